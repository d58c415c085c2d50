import { parseDuration } from './duration.js';
import type { Diagnostic, JobOptions } from './types.js';
import { isValidZone } from '../schedule/zone.js';

/**
 * schedd's per-job options live in comment lines so that the file stays valid for plain cron:
 * `# schedd: name=backup timeout=30m overlap=skip`, directly above the entry.
 */

const PREFIX = /^(\s*#\s*schedd:)/;
const PAIR = /\s*([^\s=]+)(?:=("[^"]*"|\S*))?/y;

export const OPTION_KEYS = ['name', 'timeout', 'jitter', 'overlap', 'catchup', 'retries', 'tz', 'cwd', 'user'] as const;
type OptionKey = (typeof OPTION_KEYS)[number];

const MAX_RETRIES = 100;

export function isOptionLine(line: string): boolean {
  return PREFIX.test(line);
}

type Setter = (value: string) => { set: Partial<JobOptions> } | { error: string; expected: string };

function oneOf<T extends string>(key: 'overlap' | 'catchup', allowed: readonly T[]): Setter {
  return (value) =>
    (allowed as readonly string[]).includes(value)
      ? { set: { [key]: value } }
      : { error: `invalid ${key} '${value}'`, expected: allowed.join('|') };
}

function duration(key: 'timeoutMs' | 'jitterMs', label: string, allowZero: boolean): Setter {
  return (value) => {
    const ms = parseDuration(value);
    if (ms === null || (!allowZero && ms === 0)) {
      return { error: `invalid ${label} '${value}'`, expected: `a duration such as 90s, 30m, 2h or 1d${allowZero ? '' : ', more than 0'}` };
    }
    return { set: { [key]: ms } };
  };
}

const SETTERS: Record<OptionKey, Setter> = {
  name: (value) =>
    /^[A-Za-z0-9._-]+$/.test(value) ? { set: { name: value } } : { error: `invalid name '${value}'`, expected: 'letters, digits, ".", "_" or "-"' },
  timeout: duration('timeoutMs', 'timeout', false),
  jitter: duration('jitterMs', 'jitter', true),
  overlap: oneOf('overlap', ['skip', 'allow', 'queue', 'replace']),
  catchup: oneOf('catchup', ['none', 'once', 'all']),
  retries: (value) =>
    /^\d+$/.test(value) && Number(value) <= MAX_RETRIES
      ? { set: { retries: Number(value) } }
      : { error: `invalid retries '${value}'`, expected: `a whole number 0-${MAX_RETRIES}` },
  tz: (value) => (isValidZone(value) ? { set: { tz: value } } : { error: `unknown time zone '${value}'`, expected: 'an IANA zone such as Europe/London' }),
  // A relative cwd is resolved against the crontab's own folder when the job runs.
  cwd: (value) => ({ set: { cwd: value } }),
  user: (value) =>
    /^[A-Za-z_][A-Za-z0-9._-]*\$?$/.test(value) ? { set: { user: value } } : { error: `invalid user '${value}'`, expected: 'a user name' },
};

/**
 * Parses one `# schedd:` line into `options` (accumulating over several lines). `seen` maps
 * each key already given to its line, so a repeated key is reported.
 */
export function parseOptionLine(
  text: string,
  line: number,
  options: JobOptions,
  seen: Map<string, number>,
  diagnostics: Diagnostic[],
): void {
  const prefix = PREFIX.exec(text)![1]!;
  PAIR.lastIndex = prefix.length;
  const error = (col: number, message: string, expected?: string): void => {
    diagnostics.push(expected === undefined ? { line, col, severity: 'error', message } : { line, col, severity: 'error', message, expected });
  };
  for (;;) {
    const start = PAIR.lastIndex;
    const match = PAIR.exec(text);
    if (match === null) {
      const rest = /\S/.exec(text.slice(start));
      if (rest !== null) error(start + rest.index + 1, `unexpected '${rest[0]}' in schedd options`, 'key=value pairs');
      break;
    }
    const [whole, key, rawValue] = match as unknown as [string, string, string | undefined];
    const col = start + whole.length - whole.trimStart().length + 1;
    if (!(OPTION_KEYS as readonly string[]).includes(key)) {
      error(col, `unknown schedd option '${key}'`, OPTION_KEYS.join(', '));
      continue;
    }
    if (rawValue === undefined || rawValue === '') {
      error(col, `option '${key}' needs a value`, `${key}=VALUE`);
      continue;
    }
    const previous = seen.get(key);
    if (previous !== undefined) {
      error(col, `option '${key}' is already set for this entry on line ${previous}`);
      continue;
    }
    seen.set(key, line);
    if (rawValue.startsWith('"') && !/^"[^"]*"$/.test(rawValue)) {
      error(col + key.length + 1, `unterminated quote in option '${key}'`, 'a closing "');
      continue;
    }
    const value = rawValue.startsWith('"') ? rawValue.slice(1, -1) : rawValue;
    const result = SETTERS[key as OptionKey](value);
    if ('error' in result) error(col + key.length + 1, result.error, result.expected);
    else Object.assign(options, result.set);
  }
}
