import type { Diagnostic, FieldName } from './types.js';
import { wrappedForm } from './wrapped-range.js';

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
  /** Matched values, ascending; day-of-week 7 is folded into 0. Empty when nothing matches. */
  values: number[];
  /** Vixie's star flag: the field's first character is `*`. */
  star: boolean;
  /** True when the field uses croner's L, W or # (not plain cron). */
  extension: boolean;
  /**
   * The field for croner: `*`, a list of numbers, or the upper-cased text for extensions; ''
   * when the field matches nothing (every element a reversed range: cron accepts it).
   */
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

/**
 * Vixie's get_number: the run of letters and digits at `text[at]` is one word, a number when it
 * is all digits (`09` is 9), else a name (any case); `5x` is an error, not 5 followed by junk.
 */
function readValue(
  text: string,
  at: number,
  name: FieldName,
  report: Report,
): { value: number; end: number; named: boolean } | null {
  const def = FIELDS[name];
  const word = /^[A-Za-z0-9]+/.exec(text.slice(at))?.[0];
  if (word === undefined) {
    const found = at < text.length ? `'${text[at]}'` : 'end of field';
    report(at, `invalid ${name}: unexpected ${found}`, expectedRange(def));
    return null;
  }
  if (/^\d+$/.test(word)) {
    const value = Number(word);
    if (value < def.min || value > def.max) {
      report(at, `invalid ${name} '${word}'`, expectedRange(def));
      return null;
    }
    return { value, end: at + word.length, named: false };
  }
  const index = def.names?.indexOf(word.toLowerCase()) ?? -1;
  if (index >= 0) return { value: index + (def.nameBase ?? 0), end: at + word.length, named: true };
  report(at, def.names ? `invalid ${name} name '${word}'` : `invalid ${name} '${word}'`, expectedRange(def));
  return null;
}

function readStep(text: string, at: number, name: FieldName, report: Report): { step: number; end: number } | null {
  const word = /^[A-Za-z0-9]+/.exec(text.slice(at))?.[0];
  if (word === undefined || !/^\d+$/.test(word) || Number(word) === 0) {
    const found = word !== undefined ? `'${word}'` : at < text.length ? `'${text[at]}'` : 'nothing';
    report(at, `invalid ${name} step: ${found}`, 'a whole number of 1 or more');
    return null;
  }
  return { step: Number(word), end: at + word.length };
}

/** croner's extensions: L, LW, 15W in day-of-month; 5L, fri#2 in day-of-week. */
const DOM_EXTENSION = /^(L|LW|\d{1,2}W)$/i;
const DOW_EXTENSION = /^([0-7]|sun|mon|tue|wed|thu|fri|sat)(L|#[1-5])$/i;

/**
 * One element (`*`, `5`, `1-5`, `*\/15`, `20-40/5`) from `text[at]`, as Vixie's get_range reads
 * it. Returns the index after it, or -1 (after reporting) when it is invalid.
 */
function parseElement(text: string, at: number, name: FieldName, set: Set<number>, report: Report): number {
  const def = FIELDS[name];
  let low: number;
  let high: number;
  let p: number;
  let reversed = false;
  let named = false;
  if (text[at] === '*') {
    low = def.min;
    high = name === 'day-of-week' ? 6 : def.max;
    p = at + 1;
  } else {
    const first = readValue(text, at, name, report);
    if (!first) return -1;
    low = high = first.value;
    named = first.named;
    p = first.end;
    if (text[p] === '-') {
      const second = readValue(text, p + 1, name, report);
      if (!second) return -1;
      high = second.value;
      reversed = high < low;
      p = second.end;
    } else if (text[p] === '/') {
      report(p, `invalid ${name}: a step needs a range or '*' before it`, `'*/N' or 'low-high/N'`);
      return -1;
    }
  }
  let step = 1;
  if (text[p] === '/') {
    const parsed = readStep(text, p + 1, name, report);
    if (!parsed) return -1;
    step = parsed.step;
    if (step > high - low && high > low) {
      report(p + 1, `${name} step ${step} is larger than the range: only ${low} matches`, undefined, 'warning');
    }
    p = parsed.end;
  }
  if (reversed) {
    // Vixie's loop `for (i = low; i <= high; i += step)` sets nothing: cron accepts the line and
    // this element never matches. Matched exactly (nothing), and said.
    const range = text.slice(at, p);
    const cycle = { min: def.min, size: name === 'day-of-week' ? 7 : def.max - def.min + 1, nameBase: def.nameBase ?? 0, ...(def.names ? { names: def.names } : {}) };
    const meant = wrappedForm(cycle, name, low, high, step, named);
    report(at, `${name} range '${range}' runs backwards, which cron accepts but never fires on (it matches nothing); for a range that wraps around, write '${meant}'`, undefined, 'warning');
    return p;
  }
  for (let value = low; value <= high; value += step) set.add(name === 'day-of-week' && value === 7 ? 0 : value);
  return p;
}

/**
 * Parses one field. `col` is the 1-based column of the field's first character. Returns null
 * (after reporting) when the field is invalid. `extensions: false` reads the field as Debian's
 * cron does, without croner's L, W and #.
 */
export function parseField(
  text: string,
  name: FieldName,
  col: number,
  diagnostics: Diagnostic[],
  line: number,
  extensions = true,
): ParsedField | null {
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
  let hashText: string | null = null;
  // Vixie's get_list: elements separated by commas; the first character that continues none
  // ends the field, and cron skips whatever follows up to the next blank (`5.` is 5).
  for (let p = 0; ; ) {
    const comma = text.indexOf(',', p);
    const candidate = text.slice(p, comma < 0 ? undefined : comma);
    let end: number;
    if (candidate === '') {
      report(p, `empty element in ${name} list`, 'a value between commas');
      end = -1;
    } else if (extensions && name === 'day-of-month' && DOM_EXTENSION.test(candidate)) {
      extension = true;
      const day = /^\d+/.exec(candidate);
      if (day && (Number(day[0]) < 1 || Number(day[0]) > 31)) report(p, `invalid day-of-month '${day[0]}'`, '1-31');
      end = p + candidate.length;
    } else if (extensions && name === 'day-of-week' && DOW_EXTENSION.test(candidate)) {
      extension = true;
      if (candidate.includes('#')) hashText = candidate;
      end = p + candidate.length;
    } else {
      end = parseElement(text, p, name, set, report);
    }
    if (end < 0) {
      // keep going: report every bad element of the list
      if (comma < 0) break;
      p = comma + 1;
      continue;
    }
    if (end >= text.length) break;
    if (text[end] === ',') {
      p = end + 1;
      continue;
    }
    report(end, `cron reads '${text}' as '${text.slice(0, end)}': it ignores '${text.slice(end)}', up to the next blank`, undefined, 'warning');
    break;
  }
  if (!ok) return null;
  if (extension) {
    const [day, nth] = (hashText ?? '').split('#');
    const plain = hashText === null ? 'which plain cron rejects' : `which plain cron ignores: it fires on every ${day} ('#${nth}' skipped)`;
    report(0, `'${text}' uses croner's L/W/# extension, ${plain}`, undefined, 'warning');
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
  else if (values.length === 0) canonical = '';
  else if (dayField ? text === '*' : values.length === fullCount) canonical = '*';
  else canonical = values.join(',');
  return { values, star, extension, canonical };
}
