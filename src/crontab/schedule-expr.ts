import { parseField, type ParsedField } from './field.js';
import type { Diagnostic, FieldName, ScheduleExpr } from './types.js';
import { validatePattern } from '../schedule/evaluator.js';

/** A whitespace-separated token of a line with its 1-based column. */
export interface Token {
  text: string;
  col: number;
}

export const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const FIVE: readonly FieldName[] = ['minute', 'hour', 'day-of-month', 'month', 'day-of-week'];
const SIX: readonly FieldName[] = ['second', ...FIVE];
const MACRO_LIST = [...Object.keys(MACROS), '@reboot'].join(', ');
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * True when the token after five fields is itself a schedule field, so the line has a leading
 * seconds field (croner's and cron-parser's convention). Plain cron would read it as the start
 * of the command; `check` says how the line was split.
 */
export function looksLikeField(text: string): boolean {
  const scratch: Diagnostic[] = [];
  return parseField(text, 'day-of-week', 1, scratch, 1) !== null && scratch.length === 0;
}

/**
 * How many leading tokens form the schedule: 1 for a macro, else 5, or 6 when the sixth token is
 * a field and enough tokens remain for the rest of the line (`after`: the user column, if any,
 * plus at least one command word).
 */
export function scheduleWidth(tokens: readonly Token[], after: number, vixie = false): number {
  if (tokens[0]?.text.startsWith('@')) return 1;
  const sixth = tokens[5];
  // Debian's cron has no seconds field. A sixth field starting with `*` is no user name and no
  // command cron runs (it refuses both), so there schedd's seconds field changes no table's meaning.
  if (vixie) return sixth !== undefined && sixth.text.startsWith('*') && tokens.length >= 6 + after && looksLikeField(sixth.text) ? 6 : 5;
  return sixth !== undefined && tokens.length >= 6 + after && looksLikeField(sixth.text) ? 6 : 5;
}

function fromMacro(token: Token, line: number, diagnostics: Diagnostic[]): ScheduleExpr | null {
  if (token.text === '@reboot') {
    return { text: token.text, kind: 'reboot', hasSeconds: false, pattern: '', domAndDow: false, fixedTime: true };
  }
  const expansion = MACROS[token.text];
  if (expansion === undefined) {
    diagnostics.push({ line, col: token.col, severity: 'error', message: `unknown macro '${token.text}'`, expected: MACRO_LIST });
    return null;
  }
  const fields = expansion.split(' ').map((text) => ({ text, col: token.col }));
  const expr = fromFields(fields, FIVE, line, diagnostics, true);
  return expr && { ...expr, text: token.text };
}

function fromFields(tokens: readonly Token[], names: readonly FieldName[], line: number, diagnostics: Diagnostic[], extensions: boolean): ScheduleExpr | null {
  const parsed: (ParsedField | null)[] = names.map((name, i) => {
    const token = tokens[i]!;
    return parseField(token.text, name, token.col, diagnostics, line, extensions);
  });
  if (parsed.some((field) => field === null)) return null;
  const fields = parsed as ParsedField[];
  const [minute, hour, dom, month, dow] = fields.slice(names.length - 5) as [ParsedField, ParsedField, ParsedField, ParsedField, ParsedField];
  const second = names.length === 6 ? fields[0]! : null;
  const domAndDow = dom.star || dow.star;
  const domToken = tokens[names.length - 3]!;
  const dowToken = tokens[names.length - 1]!;
  if (dom.star !== dow.star && (dom.star ? domToken.text : dowToken.text) !== '*') {
    const starred = dom.star ? domToken : dowToken;
    diagnostics.push({
      line,
      col: starred.col,
      severity: 'warning',
      message:
        `'${starred.text}' starts with '*', so by cron's rule this entry fires only on days that match ` +
        `both '${domToken.text}' and '${dowToken.text}' (croner and cron-parser would fire on either); ` +
        `write the day field without '*' to fire on either`,
    });
  }
  if (!dom.extension && dow.star && dow.values.length === 7 && !dom.star) {
    const possible = month.values.some((m) => dom.values.some((d) => d <= DAYS_IN_MONTH[m - 1]!));
    if (!possible) {
      diagnostics.push({
        line,
        col: domToken.col,
        severity: 'warning',
        message: `this entry never fires: day '${domToken.text}' does not occur in month '${tokens[names.length - 2]!.text}'`,
      });
    }
  }
  const text = tokens.map((t) => t.text).join(' ');
  const fixedTime = !minute.star && !hour.star;
  let days = { dom: dom.canonical, dow: dow.canonical, domAndDow };
  if (fields.some((field) => field.values.length === 0 && !field.extension)) {
    const rule = dayRule(dom, dow, domAndDow);
    const blocking = names.findIndex((name, i) => fields[i]!.values.length === 0 && !fields[i]!.extension && (rule === null || (name !== 'day-of-month' && name !== 'day-of-week')));
    if (blocking >= 0) {
      const token = tokens[blocking]!;
      const why =
        names[blocking] === 'day-of-month' || names[blocking] === 'day-of-week'
          ? `cron matches no day in '${token.text}', and ${domAndDow ? "with a day field starting with '*' a day must match both" : 'the other day field matches nothing either'}`
          : `cron matches nothing in the ${names[blocking]} field '${token.text}'`;
      diagnostics.push({ line, col: tokens[0]!.col, severity: 'warning', message: `this entry never fires: ${why}` });
      return { text, kind: 'cron', hasSeconds: second !== null, pattern: '', domAndDow, fixedTime, never: true };
    }
    // Days by Vixie's OR rule, one of them matching nothing: the other alone decides, which
    // croner says as "both must match" with the empty one unrestricted.
    days = { ...rule!, domAndDow: true };
  }
  const expr: ScheduleExpr = {
    text,
    kind: 'cron',
    hasSeconds: second !== null,
    pattern: [second?.canonical ?? '0', minute.canonical, hour.canonical, days.dom, month.canonical, days.dow].join(' '),
    domAndDow: days.domAndDow,
    fixedTime,
  };
  if (dom.extension || dow.extension) {
    // schedd only checks the shape of L/W/#; croner has the last word on what they may combine with.
    try {
      validatePattern(expr);
    } catch (error) {
      const token = dom.extension ? domToken : dowToken;
      const message = (error as Error).message.replace(/^CronPattern: /, '');
      diagnostics.push({ line, col: token.col, severity: 'error', message: `'${token.text}' is rejected by croner: ${message}` });
      return null;
    }
  }
  return expr;
}

/**
 * With Vixie's OR rule (both day fields restricted), a day field that matches nothing leaves the
 * other to decide alone: the croner fields for that, or null when the entry has no day at all.
 */
function dayRule(dom: ParsedField, dow: ParsedField, domAndDow: boolean): { dom: string; dow: string } | null {
  const domEmpty = dom.values.length === 0 && !dom.extension;
  const dowEmpty = dow.values.length === 0 && !dow.extension;
  if (domAndDow || (domEmpty && dowEmpty)) return domEmpty || dowEmpty ? null : { dom: dom.canonical, dow: dow.canonical };
  return domEmpty ? { dom: '*', dow: dow.canonical } : { dom: dom.canonical, dow: '*' };
}

/**
 * Parses the schedule part of an entry: one macro token or 5/6 field tokens. `vixie`: as
 * Debian's cron reads it, without croner's L/W/# (see ParseOptions.vixie).
 */
export function parseScheduleTokens(tokens: readonly Token[], line: number, diagnostics: Diagnostic[], vixie = false): ScheduleExpr | null {
  const first = tokens[0];
  if (first === undefined) return null;
  if (first.text.startsWith('@')) return fromMacro(first, line, diagnostics);
  return fromFields(tokens, tokens.length === 6 ? SIX : FIVE, line, diagnostics, !vixie);
}

/** Splits a bare expression (as given to `schedd next`) into tokens. */
export function tokenize(text: string, startCol = 1): Token[] {
  const tokens: Token[] = [];
  // Vixie's Skip_Blanks: only spaces and tabs separate fields (a form feed or a no-break space is
  // part of a field, as cron reads it).
  const re = /[^ \t]+/g;
  for (let match = re.exec(text); match !== null; match = re.exec(text)) {
    tokens.push({ text: match[0], col: startCol + match.index });
  }
  return tokens;
}

/** Parses a standalone schedule expression (`schedd next`): a macro, or 5 or 6 fields. */
export function parseSchedule(text: string): { expr: ScheduleExpr | null; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const tokens = tokenize(text);
  if (tokens.length === 0 || (tokens.length !== 1 && tokens.length !== 5 && tokens.length !== 6) || (tokens.length === 1 && !tokens[0]!.text.startsWith('@'))) {
    diagnostics.push({
      line: 1,
      col: 1,
      severity: 'error',
      message: `expected a macro or 5 or 6 fields, found ${tokens.length} field${tokens.length === 1 ? '' : 's'}`,
      expected: `'minute hour day-of-month month day-of-week', a leading seconds field, or ${MACRO_LIST}`,
    });
    return { expr: null, diagnostics };
  }
  const expr = parseScheduleTokens(tokens, 1, diagnostics);
  return { expr: diagnostics.some((d) => d.severity === 'error') ? null : expr, diagnostics };
}
