import { constants, watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, dirname } from 'node:path';
import { ScheddError, ExitCode } from '../errors.js';
import { formatLocal } from '../format.js';
import { prettyMessage } from '../log.js';
import { systemZone } from '../schedule/zone.js';
import { stateFileProblem } from '../state-file.js';
import { escapeText, terminalJsonText } from '../terminal.js';

/**
 * `schedd logs`: the detached daemon's JSON log for people. The tail is read backwards in
 * chunks, so a large log costs only the lines shown. Following reads through an open file
 * handle and switches to the new file after a rotation (a new inode at the path, or the file
 * shrinking under a copy-and-truncate).
 */

export interface LogsOptions {
  logPath: string;
  follow: boolean;
  /** Only records of this job id. */
  job?: string;
  /** How many records to print before following. */
  lines: number;
  /** The raw JSON lines instead of formatted ones. */
  json: boolean;
  output?: NodeJS.WritableStream;
  /** Stops following (SIGINT does too). */
  signal?: AbortSignal;
  /** IANA zone for the times shown (default: the system zone). */
  zone?: string;
}

const CHUNK_BYTES = 64 * 1024;
const POLL_MS = 250;
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

export async function logsCommand(options: LogsOptions): Promise<number> {
  const output = options.output ?? process.stdout;
  const zone = options.zone ?? systemZone();
  const show = (line: string): string | null => renderLine(line, options.job, options.json, zone);
  const printTail = async (from: FileHandle, end: number): Promise<void> => {
    const lines = await readTail(from, end, options.lines, show);
    if (lines.length > 0) output.write(`${lines.join('\n')}\n`);
  };
  const handle = await openLog(options.logPath);
  if (!options.follow) {
    if (handle === null) {
      throw new ScheddError('SCHEDD_NO_LOG', `no log at ${options.logPath} (the daemon writes it in detached mode; in the foreground logs go to stdout)`);
    }
    try {
      await printTail(handle, (await handle.stat()).size);
    } finally {
      await handle.close();
    }
    return ExitCode.ok;
  }
  // Following ends on SIGINT (exit 0, as tail -f), on options.signal, or when whoever reads
  // the output goes away (EPIPE from `schedd logs -f | head`).
  const stop = new AbortController();
  const abort = (): void => stop.abort();
  process.on('SIGINT', abort);
  options.signal?.addEventListener('abort', abort);
  if (options.signal?.aborted) abort();
  output.on('error', abort);
  try {
    // A line still being written when we looked is left to the follower, to print it whole.
    const end = handle === null ? 0 : await completeEnd(handle, (await handle.stat()).size);
    if (handle !== null) await printTail(handle, end);
    await follow(options.logPath, handle, end, show, output, stop.signal);
  } finally {
    process.off('SIGINT', abort);
    options.signal?.removeEventListener('abort', abort);
    output.off('error', abort);
  }
  return ExitCode.ok;
}

/**
 * One log line as shown, or null when the job filter leaves it out. Job output and crontab text
 * in it are escaped (see terminal.ts); a JSON line stays the same JSON, with DEL and C1, which
 * JSON leaves raw, written as `\u00HH`.
 */
function renderLine(line: string, job: string | undefined, json: boolean, zone: string): string | null {
  const record = parseRecord(line);
  if (job !== undefined && record?.job !== job) return null;
  if (record === null) return escapeText(line);
  if (json) return terminalJsonText(line);
  return escapeText(`${formatTime(record.time, zone)} ${formatLevel(record.level)} ${prettyMessage(record, 'msg')}`);
}

function parseRecord(line: string): Record<string, unknown> | null {
  if (!line.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function formatTime(time: unknown, zone: string): string {
  const ms = typeof time === 'number' ? time : typeof time === 'string' ? Date.parse(time) : NaN;
  if (!Number.isFinite(ms)) return String(time);
  return `${formatLocal(ms, zone)}.${String(((ms % 1000) + 1000) % 1000).padStart(3, '0')}`;
}

function formatLevel(level: unknown): string {
  const name = typeof level === 'number' ? (LEVELS[level] ?? String(level)) : String(level).toUpperCase();
  return name.padEnd(5);
}

/**
 * The log, opened as the daemon opens its state files: never through a link (root following a
 * --user account's log would print whatever file she points it at), never blocking on a FIFO,
 * and only a regular file with one link, owned by the state directory's owner.
 */
async function openLog(path: string): Promise<FileHandle | null> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    const why = code === 'EACCES' ? 'permission denied' : code === 'ELOOP' ? 'is a symbolic link (expected a regular file; remove it)' : (error as Error).message;
    throw new ScheddError('SCHEDD_LOG_UNREADABLE', `cannot read log ${path}: ${why}`, { cause: error });
  }
  const problem = stateFileProblem(path, await handle.stat());
  if (problem === null) return handle;
  await handle.close();
  throw new ScheddError('SCHEDD_LOG_UNREADABLE', `cannot read log ${path}: ${problem}; remove it`);
}

/**
 * The last `count` shown lines of the file up to `end`, reading backwards one chunk at a time.
 */
async function readTail(handle: FileHandle, end: number, count: number, show: (line: string) => string | null): Promise<string[]> {
  const shown: string[] = [];
  if (count <= 0) return shown;
  for await (const bytes of linesBackward(handle, end)) {
    if (bytes.length === 0) continue;
    const line = show(bytes.toString('utf8'));
    if (line !== null && shown.push(line) >= count) break;
  }
  return shown.reverse();
}

/** The lines of the first `end` bytes, last first, without their newlines. */
async function* linesBackward(handle: FileHandle, end: number): AsyncGenerator<Buffer> {
  let carry = Buffer.alloc(0);
  let position = end;
  while (position > 0) {
    const length = Math.min(CHUNK_BYTES, position);
    const chunk = Buffer.alloc(length);
    await readFully(handle, chunk, position - length);
    let data = Buffer.concat([chunk, carry]);
    // The newline that ends the last line does not start another one.
    if (position === end && data[data.length - 1] === 0x0a) data = data.subarray(0, data.length - 1);
    position -= length;
    for (let cut = data.lastIndexOf(0x0a); cut >= 0; cut = data.lastIndexOf(0x0a)) {
      yield data.subarray(cut + 1);
      data = data.subarray(0, cut);
    }
    carry = Buffer.from(data);
  }
  if (end > 0) yield carry;
}

/** Where the last complete line ends: a line still being written is left to the follower. */
async function completeEnd(handle: FileHandle, size: number): Promise<number> {
  let position = size;
  while (position > 0) {
    const length = Math.min(CHUNK_BYTES, position);
    const chunk = Buffer.alloc(length);
    await readFully(handle, chunk, position - length);
    const cut = chunk.lastIndexOf(0x0a);
    if (cut >= 0) return position - length + cut + 1;
    position -= length;
  }
  return 0;
}

async function readFully(handle: FileHandle, buffer: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** Prints lines appended from `position` on, across rotations, until stopped. */
async function follow(
  path: string,
  initial: FileHandle | null,
  initialPosition: number,
  show: (line: string) => string | null,
  output: NodeJS.WritableStream,
  signal: AbortSignal,
): Promise<void> {
  let handle = initial;
  let inode = handle === null ? null : (await handle.stat()).ino;
  let position = initialPosition;
  let partial = Buffer.alloc(0);
  // Set by the watch and by the signal; an event during a check is not lost, it skips the next wait.
  let pending = false;
  let notify: (() => void) | null = null;
  const wake = (): void => {
    pending = true;
    notify?.();
  };

  const emit = async (lines: string[]): Promise<void> => {
    const shown = lines.map(show).filter((line): line is string => line !== null);
    if (shown.length > 0 && !output.write(`${shown.join('\n')}\n`) && !signal.aborted) await once(output, 'drain', { signal }).catch(() => {});
  };
  /** Everything written since the last read, complete lines only (or all of it, when `flush`). */
  const drain = async (flush: boolean): Promise<void> => {
    if (handle === null) return;
    const chunk = Buffer.alloc(CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const data = Buffer.concat([partial, chunk.subarray(0, bytesRead)]);
      const cut = data.lastIndexOf(0x0a);
      partial = Buffer.from(data.subarray(cut + 1));
      if (cut >= 0) await emit(data.subarray(0, cut).toString('utf8').split('\n'));
    }
    if (flush && partial.length > 0) {
      await emit([partial.toString('utf8')]);
      partial = Buffer.alloc(0);
    }
  };
  const check = async (): Promise<void> => {
    const current = await stat(path).catch(() => null);
    if (handle !== null && (current === null || current.ino !== inode)) {
      // Rotated: what the daemon wrote to the old file before it reopened is still shown.
      await drain(true);
      await handle.close();
      handle = null;
    } else if (handle !== null && current !== null && current.size < position) {
      // Truncated in place (copytruncate): start over at the beginning.
      position = 0;
      partial = Buffer.alloc(0);
    }
    if (handle === null && current !== null) {
      handle = await openLog(path);
      if (handle === null) return;
      inode = (await handle.stat()).ino;
      position = 0;
      partial = Buffer.alloc(0);
    }
    await drain(false);
  };

  let watcher = null as FSWatcher | null;
  const watchFolder = (): void => {
    if (watcher !== null) return;
    try {
      // The folder, not the file: a rotation replaces the file a file watch would hold on to.
      watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        if (file === null || file.toString() === basename(path)) wake();
      });
      watcher.on('error', () => {
        watcher?.close();
        watcher = null;
      });
    } catch {
      // The folder does not exist yet: the periodic check covers it until it does.
    }
  };
  signal.addEventListener('abort', wake);
  try {
    while (!signal.aborted) {
      pending = false;
      watchFolder();
      await check();
      if (pending || signal.aborted) continue;
      // A watch event ends the wait early; the timer is the fallback where fs.watch misses some.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          notify = null;
          resolve();
        };
        const timer = setTimeout(done, POLL_MS);
        notify = done;
      });
    }
  } finally {
    signal.removeEventListener('abort', wake);
    watcher?.close();
    await handle?.close();
  }
}
