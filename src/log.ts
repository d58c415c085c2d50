import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { escapeText } from './terminal.js';
import { LogStream } from './log-stream.js';

/**
 * The daemon's log. Field names are defined here, once, as the type every log call takes, so a
 * record always says `job`, never `jobId` in one place and `name` in another.
 */
export interface LogFields {
  job?: string;
  run?: string;
  /** Always a job's process; the daemon's own is daemonPid. */
  pid?: number | null;
  daemonPid?: number;
  exitCode?: number | null;
  signal?: string | null;
  outcome?: string;
  durationMs?: number;
  stream?: 'stdout' | 'stderr';
  line?: string;
  /** The slot a run stands for, ISO-8601 UTC. */
  scheduledAt?: string;
  /** How long after its slot a run started (or a wake came). */
  lateMs?: number;
  reason?: string;
  attempt?: number;
  delayMs?: number;
  count?: number;
  crontab?: string;
  jobs?: number;
  errors?: string[];
  added?: string[];
  changed?: string[];
  removed?: string[];
  unchanged?: number;
  running?: number;
  droppedBytes?: number;
  /** Start of a span, ISO-8601 UTC (records dropped since). */
  since?: string;
  waiting?: number;
  err?: unknown;
  /** A service's instance (0..N-1). */
  instance?: number;
  uptimeMs?: number;
  /** How many services (or service processes running). */
  services?: number;
  timeoutMs?: number;
  /** A state-directory file's name. */
  file?: string;
}

type Method = (fields: LogFields, message: string) => void;

export interface Log {
  trace: Method;
  debug: Method;
  info: Method;
  warn: Method;
  error: Method;
  fatal: Method;
  flush(callback?: (error?: Error) => void): void;
  readonly level: string;
  /** Reopens the log file (after logrotate moved it); a no-op for stdout. */
  reopen(): void;
  /** Records that never reached the log (a full buffer, a write fault, a nearly full disk). */
  readonly dropped: number;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  level: LogLevel;
  /** Human-readable lines instead of JSON (the default when stdout is a terminal). */
  pretty: boolean;
  /** File descriptor to write to; 1 (stdout) in the foreground. */
  fd?: number;
  /** Append to this file instead (detached mode): opened without following links, rotated, reopened. */
  file?: string;
}

/**
 * One line per record for people: `job: message (key=value ...)`, and a job's output as
 * `job stream| line` (a service's as `job#instance stream| line`).
 */
export function prettyMessage(record: Record<string, unknown>, messageKey: string): string {
  const { [messageKey]: message, job, line, stream, level: _level, time: _time, ...rest } = record;
  // A service's line names its instance: `worker#2 stdout| ...`.
  if (message === 'job output') return `${String(job)}${typeof rest.instance === 'number' ? `#${rest.instance}` : ''} ${String(stream)}| ${String(line)}`;
  const details = Object.entries(rest)
    .filter(([, value]) => value !== null && value !== undefined && !(Array.isArray(value) && value.length === 0))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const prefix = job === undefined ? '' : `${String(job)}: `;
  return `${prefix}${String(message)}${details.length > 0 ? ` (${details.join(' ')})` : ''}`;
}

export function createLog(options: LogOptions): Log {
  const fd = options.fd ?? 1;
  // No base fields: `pid` in a record is always a job's process, never the daemon's.
  const base = { level: options.level, base: null, timestamp: pino.stdTimeFunctions.isoTime };
  let logger: Logger;
  let stream: LogStream | null = null;
  if (options.file !== undefined) {
    stream = new LogStream({ path: options.file });
    logger = pino(base, stream);
  } else if (options.pretty) {
    logger = pino(base, pretty({ destination: fd, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', hideObject: true, ignore: 'pid,hostname', messageFormat: (record, key) => escapeText(prettyMessage(record, key)) }));
  } else {
    // Asynchronous and bounded: a slow reader of stdout must not stall the scheduler or grow
    // memory without limit. minLength 1 still writes at once, but makes flush() wait for the
    // write in flight; with 0 it returns at once, and records written at exit overtook it.
    stream = new LogStream({ fd });
    logger = pino(base, stream);
  }
  if (stream !== null) stream.logger = logger;
  const log = logger as unknown as Log;
  log.reopen = () => {
    if (stream === null) return;
    try {
      stream.reopen();
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      logger.error({ err: error, reason: code }, `cannot reopen the log file (${message}); still writing to the one already open`);
    }
  };
  Object.defineProperty(log, 'dropped', { get: () => stream?.dropped ?? 0 });
  return log;
}
