import type { Diagnostic, FieldName } from './types.js';

/**
 * One schedule field (`*\/15`, `1-5,mon`, `L`) to the set of values it matches, Vixie's way.
 * Columns in diagnostics are absolute (the field's own column plus the offset inside it).
 */

interface FieldDef {
  min: number;
  max: number;
  names?: readonly string[];
  /** Offset of names[0]: jan is 1, sun is 0. */
  nameBase?: number;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export const FIELDS: Record<FieldName, FieldDef> = {
  second: { min: 0, max: 59 },
  minute: { min: 0, max: 59 },
  hour: { min: 0, max: 23 },
  'day-of-month': { min: 1, max: 31 },
  month: { min: 1, max: 12, names: MONTHS, nameBase: 1 },
  'day-of-week': { min: 0, max: 7, names: DAYS, nameBase: 0 },
};

export interface ParsedField {
  /** Matched values, ascending; day-of-week 7 is folded into 0. */
  values: number[];
  /** Vixie's star flag: the field's first character is `*`. */
  star: boolean;
  /** True when the field uses croner's L, W or # (not plain cron). */
  extension: boolean;
  /** The field for croner: `*`, a list of numbers, or the upper-cased text for extensions. */
  canonical: string;
}

function fullRange(name: FieldName): number[] {
  const def = FIELDS[name];
  const values: number[] = [];
  for (let v = def.min; v <= (name === 'day-of-week' ? 6 : def.max); v++) values.push(v);
  return values;
}

const STAR = Object.fromEntries(
  (Object.keys(FIELDS) as FieldName[]).map((name) => [name, Object.freeze({ values: Object.freeze(fullRange(name)) as number[], star: true, extension: false, canonical: '*' })]),
) as unknown as Record<FieldName, ParsedField>;

type Report = (offset: number, message: string, expected?: string, severity?: 'warning') => void;

function expectedRange(def: FieldDef): string {
  const names = def.names ? ` or a name ${def.names[0]}-${def.names[def.names.length - 1]}` : '';
  return `${def.min}-${def.max}${names}`;
}

/** A number or a name at `text[at]`; returns the value and the index after it. */
function readValue(
  text: string,
  at: number,
  name: FieldName,
  report: Report,
): { value: number; end: number } | null {
  const def = FIELDS[name];
  const digits = /^\d+/.exec(text.slice(at));
  if (digits) {
    const value = Number(digits[0]);
    if (value < def.min || value > def.max) {
      report(at, `invalid ${name} '${digits[0]}'`, expectedRange(def));
      return null;
    }
    return { value, end: at + digits[0].length };
  }
  const word = /^[a-z]+/i.exec(text.slice(at));
  if (word && def.names) {
    const index = def.names.indexOf(word[0].toLowerCase());
    if (index >= 0) return { value: index + (def.nameBase ?? 0), end: at + word[0].length };
    report(at, `invalid ${name} name '${word[0]}'`, expectedRange(def));
    return null;
  }
  const found = word ? `'${word[0]}'` : at < text.length ? `'${text[at]}'` : 'end of field';
  report(at, `invalid ${name}: unexpected ${found}`, expectedRange(def));
  return null;
}

function readStep(text: string, at: number, name: FieldName, report: Report): { step: number; end: number } | null {
  const digits = /^\d+/.exec(text.slice(at));
  if (!digits || Number(digits[0]) === 0) {
    const found = digits ? `'${digits[0]}'` : at < text.length ? `'${text[at]}'` : 'nothing';
    report(at, `invalid ${name} step: ${found}`, 'a whole number of 1 or more');
    return null;
  }
  return { step: Number(digits[0]), end: at + digits[0].length };
}

/** croner's extensions: L, LW, 15W in day-of-month; 5L, fri#2 in day-of-week. */
const DOM_EXTENSION = /^(L|LW|\d{1,2}W)$/i;
const DOW_EXTENSION = /^([0-7]|sun|mon|tue|wed|thu|fri|sat)(L|#[1-5])$/i;

function parseElement(
  element: string,
  offset: number,
  name: FieldName,
  set: Set<number>,
  report: Report,
): boolean {
  const def = FIELDS[name];
  const sub: Report = (at, message, expected, severity) => report(offset + at, message, expected, severity);
  let low: number;
  let high: number;
  let at = 0;
  if (element.startsWith('*')) {
    low = def.min;
    high = name === 'day-of-week' ? 6 : def.max;
    at = 1;
  } else {
    const first = readValue(element, 0, name, sub);
    if (!first) return false;
    low = high = first.value;
    at = first.end;
    if (element[at] === '-') {
      const second = readValue(element, at + 1, name, sub);
      if (!second) return false;
      high = second.value;
      if (high < low) {
        sub(0, `invalid ${name} range '${element.slice(0, second.end)}': start is after end`, `low-high with low <= high`);
        return false;
      }
      at = second.end;
    } else if (element[at] === '/') {
      sub(at, `invalid ${name}: a step needs a range or '*' before it`, `'*/N' or 'low-high/N'`);
      return false;
    }
  }
  let step = 1;
  if (element[at] === '/') {
    const parsed = readStep(element, at + 1, name, sub);
    if (!parsed) return false;
    step = parsed.step;
    if (step > high - low && high > low) {
      sub(at + 1, `${name} step ${step} is larger than the range: only ${low} matches`, undefined, 'warning');
    }
    at = parsed.end;
  }
  if (at < element.length) {
    sub(at, `invalid ${name}: unexpected '${element[at]}'`, `',', '-' or '/'`);
    return false;
  }
  for (let value = low; value <= high; value += step) set.add(name === 'day-of-week' && value === 7 ? 0 : value);
  return true;
}

/**
 * Parses one field. `col` is the 1-based column of the field's first character. Returns null
 * (after reporting) when the field is invalid.
 */
export function parseField(text: string, name: FieldName, col: number, diagnostics: Diagnostic[], line: number): ParsedField | null {
  // Fast paths for the two most common shapes; a 100,000-line crontab is mostly these.
  if (text === '*') return STAR[name];
  if (/^\d{1,2}$/.test(text)) {
    const value = Number(text);
    const def = FIELDS[name];
    if (value >= def.min && value <= def.max) {
      const folded = name === 'day-of-week' && value === 7 ? 0 : value;
      return { values: [folded], star: false, extension: false, canonical: String(folded) };
    }
  }
  let ok = true;
  const report: Report = (offset, message, expected, severity) => {
    if (severity !== 'warning') ok = false;
    const diagnostic: Diagnostic = { line, col: col + offset, severity: severity ?? 'error', message };
    if (expected !== undefined) diagnostic.expected = expected;
    diagnostics.push(diagnostic);
  };
  const set = new Set<number>();
  let extension = false;
  let offset = 0;
  for (const element of text.split(',')) {
    if (element === '') {
      report(offset, `empty element in ${name} list`, 'a value between commas');
    } else if (name === 'day-of-month' && DOM_EXTENSION.test(element)) {
      extension = true;
      const day = /^\d+/.exec(element);
      if (day && (Number(day[0]) < 1 || Number(day[0]) > 31)) report(offset, `invalid day-of-month '${day[0]}'`, '1-31');
    } else if (name === 'day-of-week' && DOW_EXTENSION.test(element)) {
      extension = true;
    } else if (!parseElement(element, offset, name, set, report)) {
      // keep going: report every bad element of the list
    }
    offset += element.length + 1;
  }
  if (!ok) return null;
  if (extension) {
    report(0, `'${text}' uses croner's L/W/# extension, which plain cron rejects`, undefined, 'warning');
  }
  const values = [...set].sort((a, b) => a - b);
  const def = FIELDS[name];
  const fullCount = (name === 'day-of-week' ? 6 : def.max) - def.min + 1;
  const star = text.startsWith('*');
  // croner treats a literal `*` day field as "unrestricted"; schedd decides the day rule itself
  // (see ScheduleExpr.domAndDow), so day fields are `*` for croner only when written as `*`.
  const dayField = name === 'day-of-month' || name === 'day-of-week';
  let canonical: string;
  if (extension) canonical = text.toUpperCase();
  else if (dayField ? text === '*' : values.length === fullCount) canonical = '*';
  else canonical = values.join(',');
  return { values, star, extension, canonical };
}
