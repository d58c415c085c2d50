export type Severity = 'error' | 'warning';

/** One problem in a crontab, located by 1-based line and column. */
export interface Diagnostic {
  line: number;
  col: number;
  severity: Severity;
  message: string;
  /** What would have been valid here, shown as "(expected ...)". */
  expected?: string;
}

export type FieldName = 'second' | 'minute' | 'hour' | 'day-of-month' | 'month' | 'day-of-week';

/** A parsed schedule: a macro or 5 (6 with seconds) fields, ready for the schedule engine. */
export interface ScheduleExpr {
  /** The schedule as written (`@daily`, `*\/5 * * * *`). */
  text: string;
  kind: 'cron' | 'reboot';
  /** True when a leading seconds field was given. */
  hasSeconds: boolean;
  /** Six-field pattern (seconds first) in numbers, for croner; empty for @reboot. */
  pattern: string;
  /**
   * Vixie's day rule: when either day field starts with `*`, a day must match both fields;
   * otherwise a day matching either fires.
   */
  domAndDow: boolean;
  /**
   * Vixie's DST class: fixed-time unless the minute or hour field starts with `*`. Fixed-time
   * slots in a spring-forward gap fire at the end of the gap; repeated ones fire once.
   */
  fixedTime: boolean;
  /**
   * The entry can never fire: a field matches nothing (every element a reversed range such as
   * `23-1`, which Vixie cron accepts and never matches). It has no slots; `pattern` is ''.
   */
  never?: true;
}

export type OverlapPolicy = 'skip' | 'allow' | 'queue' | 'replace';
export type RestartPolicy = 'always' | 'on-failure' | 'never';
export type WatchAction = 'restart' | 'reload';

/** A service's options (`service` on an @reboot entry); defaults are applied by services/. */
export interface ServiceOptions {
  restart?: RestartPolicy;
  restartDelayMs?: number;
  restartMaxDelayMs?: number;
  stableMs?: number;
  /** `start-limit=N/WINDOW`: more starts than `count` within `windowMs` and the service is failed. */
  startLimit?: { count: number; windowMs: number };
  retryAfterMs?: number;
  stopSignal?: NodeJS.Signals;
  stopTimeoutMs?: number;
  reloadSignal?: NodeJS.Signals;
  /** As written; relative paths are relative to the crontab's folder. */
  watch?: string[];
  watchAction?: WatchAction;
  instances?: number;
}
export type CatchupPolicy = 'none' | 'once' | 'all';
/**
 * `mail=`: when a run is mailed to MAILTO. Unset is cron's rule: a run that printed anything.
 * `always`: every run, output or not; `on-failure`: only a run that did not succeed, output or
 * not (cronie's -n); `never`: none.
 */
export type MailPolicy = 'always' | 'on-failure' | 'never';

/** schedd's own per-job options, from `# schedd:` comment lines. */
export interface JobOptions {
  name?: string;
  timeoutMs?: number;
  jitterMs?: number;
  overlap?: OverlapPolicy;
  catchup?: CatchupPolicy;
  retries?: number;
  tz?: string;
  /** Working directory; a relative one is relative to the crontab's folder. */
  cwd?: string;
  user?: string;
  mail?: MailPolicy;
  /** Present when the entry is a supervised service (`service`). */
  service?: ServiceOptions;
}

export interface Entry {
  /**
   * Stable identity: the `name` option, or derived from the command (see job-id.ts); a job of
   * a source other than the main crontab is `SOURCE:ID` (sources/validate.ts).
   */
  id: string;
  /** The id of the job source it came from ('' for the main crontab); set by sources/, not the parser. */
  source?: string;
  /** 1-based line of the entry. */
  line: number;
  schedule: ScheduleExpr;
  /** The shell command, with `\%` unescaped and the `%` input part removed. */
  command: string;
  /** Text for standard input from the `%` part, or null when there is none. */
  stdin: string | null;
  /** The crontab's environment lines in effect for this entry, in order (shared, frozen). */
  env: Readonly<Record<string, string>>;
  /** Time zone for this entry: the `tz` option, else CRON_TZ, else undefined (the daemon's). */
  zone?: string;
  /** The user column of the system crontab format, and its column. */
  user?: string;
  userCol?: number;
  options: JobOptions;
}

export interface ParsedCrontab {
  entries: Entry[];
  diagnostics: Diagnostic[];
  /**
   * Diagnostics past MAX_DIAGNOSTICS, only counted: a file of a million bad lines must not
   * cost a million objects. Absent when every diagnostic is kept.
   */
  omitted?: { errors: number; warnings: number };
}

export interface ParseOptions {
  /** System crontab format: a user name between the schedule and the command. */
  system?: boolean;
  /**
   * Read the table strictly as Debian's cron does (the tables of `--cron`): no leading seconds
   * field (a sixth field is the user or the command), and no croner L/W/# extensions (`fri#2`
   * is `fri`, the rest ignored, as cron reads it). CRON_TZ is an ordinary variable, as in
   * Debian's cron, which schedules every table in the system's zone.
   */
  vixie?: boolean;
}
