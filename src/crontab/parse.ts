import { splitCommand } from './command.js';
import { parseEnvLine } from './env-line.js';
import { derivedId } from './job-id.js';
import { checkServiceOptions, isOptionLine, parseOptionLine } from './options.js';
import { parseScheduleTokens, scheduleWidth, tokenize, type Token } from './schedule-expr.js';
import type { Diagnostic, Entry, JobOptions, ParseOptions, ParsedCrontab, ScheduleExpr } from './types.js';
import { isValidZone } from '../schedule/zone.js';

/**
 * A crontab's text to entries and diagnostics. Pure: no file access, no clock, no logging.
 * Every problem in the file is reported, each with its line and column; entries are returned
 * only for lines without errors.
 */

interface Pending {
  options: JobOptions;
  seen: Map<string, { line: number; col: number }>;
  firstLine: number;
  /** An option line had an error: the entry it belongs to is not returned either. */
  invalid: boolean;
}

/**
 * The user column: what Debian's useradd accepts (a leading digit or dot is allowed), with at
 * least one letter or `_`: not a uid (`1000`), `.` or `..`, nor a misplaced field (`5-7`).
 */
const USER_NAME = /^(?=[^$]*[A-Za-z_])[A-Za-z0-9_.][A-Za-z0-9._-]*\$?$/;

/** A longer line is an error, not parsed: Vixie cron's limit is far lower (1000 bytes). */
export const MAX_LINE_BYTES = 64 * 1024;

/** Diagnostics kept in full; the ones after these are only counted (ParsedCrontab.omitted). */
export const MAX_DIAGNOSTICS = 10_000;

export function parseCrontab(text: string, parseOptions: ParseOptions = {}): ParsedCrontab {
  const diagnostics: Diagnostic[] = [];
  const drafts: Entry[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else if (text.length > 0) {
    const last = lines[lines.length - 1]!;
    diagnostics.push({ line: lines.length, col: last.length + 1, severity: 'warning', message: "no newline at end of file: Debian's cron ignores the whole file, other crons this last line" });
  }

  let env: Readonly<Record<string, string>> = Object.freeze({});
  let cronTz: string | undefined;
  let pending: Pending | null = null;
  let warnedCr = false;
  const state = { warnedUserColumn: false };
  const orphan = (line: number): void => {
    if (pending === null) return;
    diagnostics.push({
      line: pending.firstLine,
      col: 1,
      severity: 'error',
      message: `schedd options are not directly above an entry (line ${line} comes between)`,
      expected: 'the entry on the line below the options',
    });
    pending = null;
  };

  const omitted = { errors: 0, warnings: 0 };
  const bound = (): void => {
    if (diagnostics.length <= MAX_DIAGNOSTICS) return;
    for (const d of diagnostics.splice(MAX_DIAGNOSTICS)) omitted[d.severity === 'error' ? 'errors' : 'warnings']++;
  };

  for (let index = 0; index < lines.length; index++) {
    bound();
    const lineNo = index + 1;
    let line = lines[index]!;
    // A UTF-16 length under a third of the cap cannot be over it in UTF-8: no count needed.
    if (line.length * 3 > MAX_LINE_BYTES) {
      const bytes = Buffer.byteLength(line);
      if (bytes > MAX_LINE_BYTES) {
        pending = null; // options above it belong to a line in error
        diagnostics.push({ line: lineNo, col: 1, severity: 'error', message: `line is ${bytes} bytes long`, expected: `at most ${MAX_LINE_BYTES}` });
        lines[index] = '';
        continue;
      }
    }
    if (line.endsWith('\r')) {
      line = line.slice(0, -1);
      if (!warnedCr) {
        warnedCr = true;
        diagnostics.push({ line: lineNo, col: line.length + 1, severity: 'warning', message: 'Windows line ending (CR LF): plain cron keeps the CR as part of the line' });
      }
    }
    const trimmed = line.trimStart();
    if (trimmed === '') {
      orphan(lineNo);
      continue;
    }
    if (trimmed.startsWith('#')) {
      if (isOptionLine(line)) {
        pending ??= { options: {}, seen: new Map(), firstLine: lineNo, invalid: false };
        const before = diagnostics.length;
        parseOptionLine(line, lineNo, pending.options, pending.seen, diagnostics);
        if (diagnostics.length > before) pending.invalid = true;
      }
      continue;
    }
    const setting = parseEnvLine(line);
    if (setting !== null) {
      orphan(lineNo);
      if (setting.name === 'CRON_TZ' && parseOptions.vixie === true) {
        // Debian's cron has no CRON_TZ (its crontab(5): a zone in the table affects only the
        // commands): the jobs fire in the system's zone, and the variable is only passed on.
        diagnostics.push({ line: lineNo, col: 1, severity: 'warning', message: "Debian's cron does not schedule by CRON_TZ: these jobs fire in the system's time zone, and CRON_TZ is only passed to them (write '# schedd: tz=ZONE' above an entry to schedule it in a zone)" });
      } else if (setting.name === 'CRON_TZ') {
        if (isValidZone(setting.value)) cronTz = setting.value;
        else {
          diagnostics.push({ line: lineNo, col: setting.valueCol, severity: 'error', message: `unknown time zone '${setting.value}'`, expected: 'an IANA zone such as Europe/London' });
        }
      }
      env = Object.freeze({ ...env, [setting.name]: setting.value });
      continue;
    }
    const options = pending?.options ?? {};
    let optionsValid = pending?.invalid !== true;
    const seen = pending?.seen;
    pending = null;
    const entry = parseEntry(line, lineNo, parseOptions, diagnostics, state);
    if (entry !== null && seen !== undefined && !checkServiceOptions(options, seen, entry.schedule.kind === 'reboot', diagnostics)) optionsValid = false;
    if (entry !== null && optionsValid) {
      const zone = options.tz ?? cronTz;
      const draft: Entry = { id: '', ...entry, env, options };
      if (zone !== undefined) draft.zone = zone;
      drafts.push(draft);
    }
  }
  orphan(lines.length + 1);
  const entries = assignIds(drafts, diagnostics);
  bound();
  return omitted.errors + omitted.warnings > 0 ? { entries, diagnostics, omitted } : { entries, diagnostics };
}

function parseEntry(
  line: string,
  lineNo: number,
  parseOptions: ParseOptions,
  diagnostics: Diagnostic[],
  state: { warnedUserColumn: boolean },
): Pick<Entry, 'line' | 'schedule' | 'command' | 'stdin' | 'user' | 'userCol'> | null {
  const tokens = tokenize(line);
  const after = parseOptions.system ? 2 : 1;
  const width = scheduleWidth(tokens, after, parseOptions.vixie === true);
  const needed = width + after;
  const lastToken = tokens[tokens.length - 1]!;
  const blankAfterUser = parseOptions.system === true && tokens.length === width + 1 && line.length > lastToken.col - 1 + lastToken.text.length && USER_NAME.test(lastToken.text);
  if ((tokens.length === width && !parseOptions.system) || blankAfterUser) {
    // A schedule (and user) with no command: cron accepts the line and runs an empty command,
    // which does nothing. Said, and skipped. (Without a blank after it, cron's user name runs on
    // into the next line: `0 4 * * * root` is an error there, and stays one here.)
    if (parseScheduleTokens(tokens.slice(0, width), lineNo, diagnostics, parseOptions.vixie === true) === null) return null;
    const last = tokens[tokens.length - 1]!;
    diagnostics.push({ line: lineNo, col: last.col + last.text.length, severity: 'warning', message: 'no command: cron runs nothing here, and schedd skips the line' });
    return null;
  }
  if (tokens.length < needed) {
    const last = tokens[tokens.length - 1]!;
    const shape = parseOptions.system ? 'user command' : 'command';
    const what = width === 1 ? 'the macro' : `${width} fields`;
    let message = `missing ${parseOptions.system ? 'user and command' : 'command'} after ${what}`;
    if (tokens.length < 5 && width !== 1) message = `incomplete entry: ${tokens.length} of 5 schedule fields`;
    else if (tokens.length === width + 1) message = `missing command after user '${last.text}'`;
    diagnostics.push({
      line: lineNo,
      col: last.col + last.text.length,
      severity: 'error',
      message,
      expected: `'minute hour day-of-month month day-of-week ${shape}' or '@macro ${shape}'`,
    });
    return null;
  }
  const scheduleTokens = tokens.slice(0, width);
  const diagnosticsBefore = diagnostics.length;
  const schedule = parseScheduleTokens(scheduleTokens, lineNo, diagnostics, parseOptions.vixie === true);
  if (width === 6) {
    diagnostics.push({
      line: lineNo,
      col: tokens[0]!.col,
      severity: 'warning',
      message:
        `6 schedule fields, read as 'second minute hour day-of-month month day-of-week' ` +
        `(seconds '${tokens[0]!.text}'); plain cron reads '${tokens[5]!.text}' as the start of the command`,
    });
  }
  let user: string | undefined;
  let userCol: number | undefined;
  if (parseOptions.system) {
    const userToken: Token = tokens[width]!;
    if (!USER_NAME.test(userToken.text)) {
      diagnostics.push({ line: lineNo, col: userToken.col, severity: 'error', message: `invalid user name '${userToken.text}'`, expected: 'a user name between the schedule and the command (system crontab format)' });
    } else {
      user = userToken.text;
      userCol = userToken.col;
    }
  }
  const commandToken = tokens[needed - 1]!;
  if (!parseOptions.system && !state.warnedUserColumn && commandToken.text === 'root' && tokens.length > needed) {
    // Once per file: a system table (/etc/crontab, /etc/cron.d) read as a user's.
    state.warnedUserColumn = true;
    diagnostics.push({
      line: lineNo,
      col: commandToken.col,
      severity: 'warning',
      message: "'root' looks like the user column of a system table (/etc/crontab, /etc/cron.d): read it with --system, or the machine's tables with --cron; as it is, 'root' is the command",
    });
  }
  if (parseOptions.vixie === true && !parseOptions.system && commandToken.text.startsWith('*')) {
    // load_entry's e_cmd: a user table's command may not start with '*' (a sixth field?).
    diagnostics.push({ line: lineNo, col: commandToken.col, severity: 'error', message: "command starts with '*': cron rejects it (a sixth schedule field? cron's format has five)", expected: 'a command after 5 fields' });
  }
  const { command, stdin } = splitCommand(line.slice(commandToken.col - 1));
  if (hasError(diagnostics, diagnosticsBefore) || schedule === null) return null;
  if (command.trim() === '') {
    // cron runs `sh -c ''` with that input: nothing. Not an error, since cron accepts it.
    diagnostics.push({ line: lineNo, col: commandToken.col, severity: 'warning', message: 'empty command before %: cron runs nothing here, and schedd skips the line' });
    return null;
  }
  return { line: lineNo, schedule: schedule as ScheduleExpr, command, stdin, ...(user === undefined ? {} : { user, userCol: userCol! }) };
}

function hasError(diagnostics: readonly Diagnostic[], from: number): boolean {
  for (let i = from; i < diagnostics.length; i++) if (diagnostics[i]!.severity === 'error') return true;
  return false;
}

/** Names first (unique in the file), then derived ids, numbered when identical. */
function assignIds(drafts: Entry[], diagnostics: Diagnostic[]): Entry[] {
  const taken = new Map<string, number>();
  const ids: (string | undefined)[] = drafts.map((entry) => {
    const name = entry.options.name;
    if (name === undefined) return undefined;
    const first = taken.get(name);
    if (first !== undefined) {
      diagnostics.push({ line: entry.line, col: 1, severity: 'error', message: `job name '${name}' is already used by the entry on line ${first}`, expected: 'a name unique in the file' });
      return undefined;
    }
    taken.set(name, entry.line);
    return name;
  });
  const entries: Entry[] = [];
  // The next order suffix to try per derived id: 4,000 identical lines cost 4,000 looks, not 8 million.
  const next = new Map<string, number>();
  drafts.forEach((entry, i) => {
    let id = ids[i];
    if (id === undefined) {
      if (entry.options.name !== undefined) return; // duplicate name, reported above
      const base = derivedId(entry.command, entry.stdin, entry.user);
      id = base;
      let n = next.get(base) ?? 2;
      while (taken.has(id)) id = `${base}-${n++}`;
      next.set(base, n);
      taken.set(id, entry.line);
    }
    entry.id = id;
    entries.push(entry);
  });
  diagnostics.sort((a, b) => a.line - b.line || a.col - b.col);
  return entries;
}
