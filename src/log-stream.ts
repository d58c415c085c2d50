import { pino, type Logger } from 'pino';
import { checkLogFile, LOG_MAX_BYTES, openLogFile, rotateLogFile } from './log-file.js';

/** Bytes of log kept in memory when the reader is slow; beyond it job output is dropped. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Room kept beyond that for schedd's own records (`job started`, `job finished`, ...). */
const OWN_RESERVE_BYTES = 1024 * 1024;
/** While the log cannot be written, schedd's own records are kept up to this; job output is not. */
const FAULT_BUFFER_BYTES = 1024 * 1024;
/** How often (at most) the file is looked at for rotation and free space while records come. */
const CHECK_MS = 1000;
const CHECK_BYTES = 1024 * 1024;
/** While the disk stays nearly full, what it costs is told once a minute. */
const REPORT_MS = 60_000;

type Destination = ReturnType<typeof pino.destination>;

/** pino writes `msg` last: a job's output line is recognised without parsing the record. */
function isJobOutput(record: string): boolean {
  return record.endsWith('"msg":"job output"}\n');
}

/**
 * Where the daemon's JSON records go: stdout, or the log file in the state directory. Every
 * record that does not reach it is counted (`dropped`) and reported by a `log records dropped`
 * record once writing works again.
 *
 * A log that cannot be written (full disk, a file that became a directory) must not stop the
 * daemon. Unhandled, the destination's write error is an uncaught exception, and the exit
 * handler then retries the write every 100 ms forever: the scheduler hangs, neither firing nor
 * exiting, so the watchdog never restarts it. Here a failed write is remembered: meanwhile job
 * output is dropped and schedd's own records are kept up to FAULT_BUFFER_BYTES, so that the
 * space freed on a full disk is not eaten at once by a burst of buffered output; the
 * destination retries on each new record, and the first write that works says what happened.
 *
 * The file is opened without following links and checked (openLogFile); it is rotated to
 * `<path>.1` at LOG_MAX_BYTES; and while its file system has less free space than the run
 * history's reserve, job output is dropped (counted) so that the history can still be written.
 */
export class LogStream {
  /** Records dropped since the start: full buffer, write fault, low disk space. */
  dropped = 0;
  logger: Logger | null = null;
  private destination: Destination;
  private fd: number | null = null;
  private pending: { count: number; since: number; why: Set<string> } | null = null;
  private fault: { error: NodeJS.ErrnoException; since: number; dropped: number; bytes: number } | null = null;
  private lowSpace = false;
  private reportedAt = 0;
  private checkedAt = Date.now();
  private bytesSinceCheck = 0;
  private readonly checkBytes: number;
  /** What the destination holds, in characters (close enough to bytes for a bound). */
  private buffered = 0;

  constructor(
    private readonly target: { fd: number } | { path: string },
    private readonly maxBytes = LOG_MAX_BYTES,
  ) {
    this.checkBytes = Math.min(CHECK_BYTES, Math.max(1, Math.floor(maxBytes / 8)));
    const fd = 'path' in target ? openLogFile(target.path) : target.fd;
    if ('path' in target) this.fd = fd;
    this.destination = this.attach(fd);
  }

  write(record: string): void {
    this.bytesSinceCheck += record.length;
    if ('path' in this.target && (this.bytesSinceCheck >= this.checkBytes || Date.now() - this.checkedAt >= CHECK_MS)) this.check(this.target.path);
    const output = isJobOutput(record);
    if (this.fault !== null) {
      if (output || this.fault.bytes + record.length > FAULT_BUFFER_BYTES) {
        this.fault.dropped++;
        return this.drop('the log could not be written');
      }
      this.fault.bytes += record.length;
    } else if (output && this.lowSpace) {
      return this.drop('low disk space');
    } else if (output && this.buffered + record.length > MAX_BUFFERED_BYTES) {
      // A slow reader: job output goes first, so that the records of what schedd did remain.
      return this.drop('the log buffer was full');
    }
    this.buffered += record.length;
    this.destination.write(record);
  }

  flush(callback?: (error?: Error) => void): void {
    this.destination.flush(callback);
  }

  /** Reopens the file (logrotate moved it). Throws, and keeps the file already open, when it cannot. */
  reopen(): void {
    if (!('path' in this.target)) return;
    const fd = openLogFile(this.target.path);
    const old = this.destination;
    this.fd = fd;
    this.destination = this.attach(fd);
    // What the old one still holds goes to the old file; one that cannot be written is given up.
    if (this.fault !== null) old.destroy();
    else old.end();
    this.fault = null;
  }

  private drop(why: string): void {
    this.dropped++;
    this.pending ??= { count: 0, since: Date.now(), why: new Set() };
    this.pending.count++;
    this.pending.why.add(why);
  }

  /** Says how many records were dropped, and why, once (if any were). */
  private report(): void {
    if (this.pending === null || this.logger === null) return;
    const { count, since, why } = this.pending;
    this.pending = null;
    this.reportedAt = Date.now();
    this.logger.warn({ count, since: new Date(since).toISOString(), reason: [...why].join(', ') }, 'log records dropped');
  }

  private check(path: string): void {
    this.checkedAt = Date.now();
    this.bytesSinceCheck = 0;
    try {
      const found = checkLogFile(this.fd!, path, this.maxBytes);
      if (found.kind === 'rotate') rotateLogFile(path);
      if (found.kind !== 'ok') {
        this.reopen();
        return;
      }
      if (found.lowSpace && !this.lowSpace) this.logger?.warn({ reason: 'low disk space' }, 'the disk holding the log is nearly full: job output is not logged (the run history keeps the room)');
      this.lowSpace = found.lowSpace;
      if (!found.lowSpace) this.report();
    } catch {
      // The file cannot be looked at or reopened now (a directory took its name, the disk is
      // full): keep writing to the file already open, and look again a second later. A reopen
      // that SIGUSR2 asks for says why it failed.
    }
  }

  private attach(fd: number): Destination {
    const destination = pino.destination({ fd, sync: false, minLength: 1, maxLength: MAX_BUFFERED_BYTES + OWN_RESERVE_BYTES });
    this.buffered = 0;
    let last: unknown = null;
    destination.on('error', (error: NodeJS.ErrnoException) => {
      // pino's own listener hands the first error on a second time.
      if (error === last || destination !== this.destination) return;
      last = error;
      if (error.syscall === 'close') return;
      this.fault ??= { error, since: Date.now(), dropped: 0, bytes: 0 };
    });
    destination.on('drop', () => this.drop('the log buffer was full'));
    destination.on('write', (bytes: number) => {
      if (destination !== this.destination) return;
      this.buffered = Math.max(0, this.buffered - bytes);
      if (this.fault === null) return;
      const { error, since, dropped } = this.fault;
      this.fault = null;
      this.logger?.error(
        { err: error, reason: error.code, count: dropped },
        `the log could not be written from ${new Date(since).toISOString()} (${error.message}); ${dropped} records were dropped, the rest were written late`,
      );
      this.report();
    });
    // The buffer emptied: writing has caught up, so what was dropped can be told.
    destination.on('drain', () => {
      if (destination !== this.destination) return;
      this.buffered = 0;
      if (!this.lowSpace || Date.now() - this.reportedAt >= REPORT_MS) this.report();
    });
    // Exiting, pino writes what is buffered synchronously, retrying until it works: with the fault
    // still there that is forever, so what cannot be written is given up instead.
    const flushSync = destination.flushSync.bind(destination);
    destination.flushSync = () => {
      if (this.fault === null || destination !== this.destination) flushSync();
    };
    destination.on('close', () => {
      if (this.fd === fd) this.fd = null;
    });
    return destination;
  }
}
