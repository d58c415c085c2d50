import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { escapeText } from './terminal.js';

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
  waiting?: number;
  err?: unknown;
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
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  level: LogLevel;
  /** Human-readable lines instead of JSON (the default when stdout is a terminal). */
  pretty: boolean;
  /** File descriptor to write to; 1 (stdout) in the foreground. */
  fd?: number;
  /** Append to this file instead (detached mode); it can be reopened. */
  file?: string;
}

/**
 * One line per record for people: `job: message (key=value ...)`, and a job's output as
 * `job stream| line`.
 */
export function prettyMessage(record: Record<string, unknown>, messageKey: string): string {
  const { [messageKey]: message, job, line, stream, level: _level, time: _time, ...rest } = record;
  if (message === 'job output') return `${String(job)} ${String(stream)}| ${String(line)}`;
  const details = Object.entries(rest)
    .filter(([, value]) => value !== null && value !== undefined && !(Array.isArray(value) && value.length === 0))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const prefix = job === undefined ? '' : `${String(job)}: `;
  return `${prefix}${String(message)}${details.length > 0 ? ` (${details.join(' ')})` : ''}`;
}

/** Bytes of log kept in memory when the reader is slow; beyond it records are dropped. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

type Destination = ReturnType<typeof pino.destination>;

/**
 * A log that cannot be written (full disk, a file that became a directory) must not stop the
 * daemon. Unhandled, the destination's write error is an uncaught exception, and the exit
 * handler then retries the write every 100 ms forever: the scheduler hangs, neither firing nor
 * exiting, so the watchdog never restarts it. Here a failed write is remembered (records keep
 * buffering up to MAX_BUFFERED_BYTES, then are dropped and counted); the destination retries on
 * each new record, and the first write that works says what happened, once. A failed reopen
 * keeps writing to the file already open, and says so at once.
 */
function guardWrites(destination: Destination, logger: () => Logger): { reopen(): void } {
  let fault: { error: NodeJS.ErrnoException; since: number; dropped: number } | null = null;
  let reopening = false;
  let last: unknown = null;
  destination.on('error', (error: NodeJS.ErrnoException) => {
    // pino's own listener hands the first error on a second time.
    if (error === last) return;
    last = error;
    // After a failed reopen and a good one, the old descriptor is closed twice: nothing is lost.
    if (error.syscall === 'close') return;
    if (reopening) {
      reopening = false;
      logger().error({ err: error, reason: error.code }, `cannot reopen the log file (${error.message}); still writing to the one already open`);
      return;
    }
    fault ??= { error, since: Date.now(), dropped: 0 };
  });
  destination.on('drop', () => {
    if (fault !== null) fault.dropped++;
  });
  destination.on('ready', () => (reopening = false));
  destination.on('write', () => {
    if (fault === null) return;
    const { error, since, dropped } = fault;
    fault = null;
    logger().error(
      { err: error, reason: error.code, count: dropped },
      `the log could not be written from ${new Date(since).toISOString()} (${error.message}); ${dropped} records were dropped, the rest were written late`,
    );
  });
  // Exiting, pino writes what is buffered synchronously, retrying until it works: with the fault
  // still there that is forever, so what cannot be written is given up instead.
  const flushSync = destination.flushSync.bind(destination);
  destination.flushSync = () => {
    if (fault === null) flushSync();
  };
  return {
    reopen() {
      reopening = true;
      destination.reopen();
    },
  };
}

export function createLog(options: LogOptions): Log {
  const fd = options.fd ?? 1;
  // No base fields: `pid` in a record is always a job's process, never the daemon's.
  const base = { level: options.level, base: null, timestamp: pino.stdTimeFunctions.isoTime };
  let logger: Logger;
  let reopen = (): void => undefined;
  if (options.file !== undefined) {
    const destination = pino.destination({ dest: options.file, append: true, mkdir: true, sync: false, minLength: 1, maxLength: MAX_BUFFERED_BYTES });
    const guard = guardWrites(destination, () => logger);
    reopen = () => guard.reopen();
    logger = pino(base, destination);
  } else if (options.pretty) {
    logger = pino(base, pretty({ destination: fd, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', hideObject: true, ignore: 'pid,hostname', messageFormat: (record, key) => escapeText(prettyMessage(record, key)) }));
  } else {
    // Asynchronous and bounded: a slow reader of stdout must not stall the scheduler or grow
    // memory without limit. minLength 1 still writes at once, but makes flush() wait for the
    // write in flight; with 0 it returns at once, and records written at exit overtook it.
    const destination = pino.destination({ fd, sync: false, minLength: 1, maxLength: MAX_BUFFERED_BYTES });
    guardWrites(destination, () => logger);
    logger = pino(base, destination);
  }
  const log = logger as unknown as Log;
  log.reopen = reopen;
  return log;
}
