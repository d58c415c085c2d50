import { parseDuration } from './duration.js';
import type { Diagnostic, JobOptions, RestartPolicy, ServiceOptions } from './types.js';
import { isValidZone } from '../schedule/zone.js';

/**
 * schedd's per-job options live in comment lines so that the file stays valid for plain cron:
 * `# schedd: name=backup timeout=30m overlap=skip`, directly above the entry.
 */

const PREFIX = /^(\s*#\s*schedd:)/;
const PAIR = /\s*([^\s=]+)(?:=("[^"]*"|\S*))?/y;

export const JOB_OPTION_KEYS = ['name', 'timeout', 'jitter', 'overlap', 'catchup', 'retries', 'tz', 'cwd', 'user', 'mail'] as const;
/** Options of services only (`service` itself takes no value). */
export const SERVICE_OPTION_KEYS = [
  'service',
  'restart',
  'restart-delay',
  'restart-max-delay',
  'stable',
  'start-limit',
  'retry-after',
  'stop-signal',
  'stop-timeout',
  'reload-signal',
  'watch',
  'watch-action',
  'instances',
] as const;
export const OPTION_KEYS = [...JOB_OPTION_KEYS, ...SERVICE_OPTION_KEYS] as const;
type OptionKey = (typeof OPTION_KEYS)[number];
/** Job options that mean nothing for a service: it is not fired at slots. */
export const NOT_FOR_SERVICES: readonly OptionKey[] = ['jitter', 'overlap', 'catchup', 'retries', 'mail'];

const MAX_INSTANCES = 100;
/** The longest a service's delay or timeout may be: 24 days, within a timer's 2^31-1 ms. */
const MAX_SERVICE_DURATION_MS = 24 * 86_400_000;
/** Signals a service may be stopped or reloaded with (KILL only as a stop, never as a reload). */
const SIGNALS = ['TERM', 'INT', 'QUIT', 'HUP', 'USR1', 'USR2', 'WINCH', 'KILL'] as const;

const MAX_RETRIES = 100;

export function isOptionLine(line: string): boolean {
  return PREFIX.test(line);
}

type Setter = (value: string) => { set: Partial<JobOptions> } | { error: string; expected: string };

function oneOf<T extends string>(key: 'overlap' | 'catchup' | 'mail', allowed: readonly T[]): Setter {
  return (value) =>
    (allowed as readonly string[]).includes(value)
      ? { set: { [key]: value } }
      : { error: `invalid ${key} '${value}'`, expected: allowed.join('|') };
}

function durationMs(label: string, value: string, allowZero: boolean): number | { error: string; expected: string } {
  const ms = parseDuration(value);
  if (ms === null || (!allowZero && ms === 0)) {
    return { error: `invalid ${label} '${value}'`, expected: `a duration such as 90s, 30m, 2h or 1d${allowZero ? '' : ', more than 0'}` };
  }
  return ms;
}

function duration(key: 'timeoutMs' | 'jitterMs', label: string, allowZero: boolean): Setter {
  return (value) => {
    const ms = durationMs(label, value, allowZero);
    return typeof ms === 'number' ? { set: { [key]: ms } } : ms;
  };
}

/** Service options accumulate in `options.service` (created by the `service` key or any of these). */
type ServiceSet = (value: string) => Partial<ServiceOptions> | { error: string; expected: string };

function serviceDuration(key: 'restartDelayMs' | 'restartMaxDelayMs' | 'stableMs' | 'retryAfterMs' | 'stopTimeoutMs', label: string, allowZero: boolean): ServiceSet {
  return (value) => {
    const ms = durationMs(label, value, allowZero);
    if (typeof ms !== 'number') return ms;
    // A timer cannot wait longer (Node fires a longer one at once).
    if (ms > MAX_SERVICE_DURATION_MS) return { error: `${label} '${value}' is too long`, expected: 'at most 24d' };
    const set: Partial<ServiceOptions> = {};
    set[key] = ms;
    return set;
  };
}

function signal(key: 'stopSignal' | 'reloadSignal', label: string, allowed: readonly string[]): ServiceSet {
  return (value) => {
    const name = value.toUpperCase().replace(/^SIG/, '');
    if (!allowed.includes(name)) return { error: `invalid ${label} '${value}'`, expected: allowed.join('|') };
    const set: Partial<ServiceOptions> = {};
    set[key] = `SIG${name}` as NodeJS.Signals;
    return set;
  };
}

const SERVICE_SETTERS: Record<Exclude<(typeof SERVICE_OPTION_KEYS)[number], 'service'>, ServiceSet> = {
  restart: (value) => (['always', 'on-failure', 'never'].includes(value) ? { restart: value as RestartPolicy } : { error: `invalid restart '${value}'`, expected: 'always|on-failure|never' }),
  'restart-delay': serviceDuration('restartDelayMs', 'restart-delay', true),
  'restart-max-delay': serviceDuration('restartMaxDelayMs', 'restart-max-delay', true),
  stable: serviceDuration('stableMs', 'stable', true),
  'start-limit': (value) => {
    const match = /^(\d+)\/(\S+)$/.exec(value);
    const windowMs = match === null ? null : parseDuration(match[2]!);
    if (match === null || windowMs === null || windowMs === 0 || Number(match[1]) < 1) {
      return { error: `invalid start-limit '${value}'`, expected: 'STARTS/WINDOW such as 10/10m' };
    }
    return { startLimit: { count: Number(match[1]), windowMs } };
  },
  'retry-after': serviceDuration('retryAfterMs', 'retry-after', false),
  'stop-signal': signal('stopSignal', 'stop-signal', SIGNALS),
  'stop-timeout': serviceDuration('stopTimeoutMs', 'stop-timeout', true),
  'reload-signal': signal('reloadSignal', 'reload-signal', SIGNALS.filter((name) => name !== 'KILL')),
  watch: (value) => {
    const paths = value.split(',');
    return paths.some((path) => path === '') ? { error: `invalid watch '${value}'`, expected: 'paths separated by commas' } : { watch: paths };
  },
  'watch-action': (value) => (value === 'restart' || value === 'reload' ? { watchAction: value } : { error: `invalid watch-action '${value}'`, expected: 'restart|reload' }),
  instances: (value) =>
    /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= MAX_INSTANCES
      ? { instances: Number(value) }
      : { error: `invalid instances '${value}'`, expected: `a whole number 1-${MAX_INSTANCES}` },
};

const SETTERS: Record<(typeof JOB_OPTION_KEYS)[number], Setter> = {
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
  // When a run's output is mailed (MAILTO): cron's rule (any output) unless one of these.
  mail: oneOf('mail', ['always', 'on-failure', 'never']),
};

/**
 * Parses one `# schedd:` line into `options` (accumulating over several lines). `seen` maps
 * each key already given to its line, so a repeated key is reported.
 */
export function parseOptionLine(
  text: string,
  line: number,
  options: JobOptions,
  seen: Map<string, { line: number; col: number }>,
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
    const previous = seen.get(key);
    if (key === 'service') {
      // A flag: `service`, never `service=...`.
      if (rawValue !== undefined) error(col, `option 'service' takes no value`, 'service');
      else if (previous !== undefined) error(col, `option 'service' is already set for this entry on line ${previous.line}`);
      else {
        seen.set(key, { line, col });
        options.service ??= {};
      }
      continue;
    }
    if (rawValue === undefined || rawValue === '') {
      error(col, `option '${key}' needs a value`, `${key}=VALUE`);
      continue;
    }
    if (previous !== undefined) {
      error(col, `option '${key}' is already set for this entry on line ${previous.line}`);
      continue;
    }
    seen.set(key, { line, col });
    if (rawValue.startsWith('"') && !/^"[^"]*"$/.test(rawValue)) {
      error(col + key.length + 1, `unterminated quote in option '${key}'`, 'a closing "');
      continue;
    }
    const value = rawValue.startsWith('"') ? rawValue.slice(1, -1) : rawValue;
    if (key in SERVICE_SETTERS) {
      const result = SERVICE_SETTERS[key as keyof typeof SERVICE_SETTERS](value);
      if ('error' in result) error(col + key.length + 1, result.error as string, result.expected as string);
      else options.service = { ...options.service, ...(result as Partial<ServiceOptions>) };
      continue;
    }
    const result = SETTERS[key as (typeof JOB_OPTION_KEYS)[number]](value);
    if ('error' in result) error(col + key.length + 1, result.error, result.expected);
    else Object.assign(options, result.set);
  }
}

/**
 * What the options say against the entry they sit on: `service` needs an @reboot entry, the
 * service options need `service`, and a service takes no slot options (it is never fired).
 */
export function checkServiceOptions(options: JobOptions, seen: ReadonlyMap<string, { line: number; col: number }>, reboot: boolean, diagnostics: Diagnostic[]): boolean {
  const before = diagnostics.length;
  const at = (key: string): { line: number; col: number } => seen.get(key)!;
  const service = seen.get('service');
  if (service === undefined) {
    for (const key of SERVICE_OPTION_KEYS) {
      if (seen.has(key)) diagnostics.push({ ...at(key), severity: 'error', message: `option '${key}' is for services only`, expected: `'service' in the entry's options, on an @reboot entry` });
    }
  } else {
    if (!reboot) diagnostics.push({ ...service, severity: 'error', message: `'service' needs an @reboot entry: a service is kept running, not started at slots`, expected: '@reboot COMMAND on the line below' });
    for (const key of NOT_FOR_SERVICES) {
      if (seen.has(key)) diagnostics.push({ ...at(key), severity: 'error', message: `option '${key}' does not apply to a service: it is kept running, not fired at slots` });
    }
    if (options.service?.reloadSignal === undefined && options.service?.watchAction === 'reload') {
      diagnostics.push({ ...at('watch-action'), severity: 'error', message: `watch-action=reload needs a reload-signal`, expected: 'reload-signal=HUP (or another signal)' });
    }
  }
  return diagnostics.length === before;
}
