import { closeSync, constants, fstatSync, ftruncateSync, readSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { LineSplitter } from '../runner/line-splitter.js';
import type { OutputStream } from '../runner/index.js';
import { createStateFile, openStateFile } from '../state-file.js';
import { serviceFilePath } from '../state-dir/paths.js';

/*
 * A service's output goes to two files in the state directory, not to pipes: a pipe dies with
 * the scheduler that reads it, and a service that then writes gets SIGPIPE. The service holds
 * them O_APPEND; the scheduler reads what was added (woken by inotify), passes each line on,
 * and empties a file once it has read past TRUNCATE_AT bytes of it. A scheduler that starts
 * afresh (after a crash) adopts the files with the processes and reads them from the start.
 *
 * What this costs: a line written in the instant between the scheduler's last read of a file
 * and its truncation is lost (the window is one ftruncate(2), once per TRUNCATE_AT bytes); a
 * scheduler that adopts a service logs again what the dead one had read since its last
 * truncation (at most TRUNCATE_AT bytes per file).
 */

/** Bytes read from a file before it is emptied. */
const TRUNCATE_AT = 256 * 1024;
/** Past this, a file is emptied even while its writer keeps writing (the loss window above). */
const FORCE_TRUNCATE_AT = 1024 * 1024;
/** Allocated space beyond the file's size that is taken for the writer's doing, not the file system's. */
const PREALLOCATED_SLACK = 4 * 1024 * 1024;
const CHUNK = 64 * 1024;
const MAX_TURN_CHUNKS = 16;
/** Reads are synchronous and lines leave as strings (or copies) at once: one buffer serves every tail. */
const READ_BUFFER = Buffer.allocUnsafe(CHUNK);
/** Longer lines are cut, as a job's are. */
const MAX_LINE_BYTES = 64 * 1024;
/** Bytes of lines passed on per instance and window; beyond, output is dropped and counted. */
const RATE_BYTES = 1024 * 1024;
const RATE_WINDOW_MS = 60_000;
const STREAMS: readonly OutputStream[] = ['stdout', 'stderr'];

export interface OutputSink {
  line(stream: OutputStream, line: string): void;
  /** Output not passed on: past the rate bound, or cut from long lines. */
  dropped(bytes: number): void;
}

/**
 * Opens the files a new process of an instance writes to, empty (created 0600 when absent;
 * what an earlier process left was read, or is its own): descriptors for the child.
 */
export function openOutputFiles(stateDir: string, job: string, instance: number): { stdout: number; stderr: number } {
  const open = (kind: 'out' | 'err'): number => {
    const path = serviceFilePath(stateDir, job, instance, kind);
    const created = createStateFile(path, 0o600, constants.O_WRONLY | constants.O_APPEND);
    if (created !== null) return created;
    const fd = openStateFile(path, constants.O_WRONLY | constants.O_APPEND)!;
    ftruncateSync(fd, 0);
    return fd;
  };
  const stdout = open('out');
  try {
    return { stdout, stderr: open('err') };
  } catch (error) {
    closeSync(stdout);
    throw error;
  }
}

class FileTail {
  private offset = 0;
  private readonly fd: number;
  private readonly watcher: FSWatcher | null;
  private readonly splitter: LineSplitter;
  private scheduled = false;
  /** Closed: a read still scheduled must not touch the descriptor (its number may be another file's by then). */
  private closed = false;

  constructor(
    path: string,
    private readonly stream: OutputStream,
    private readonly owner: ServiceOutput,
  ) {
    this.fd = openStateFile(path, constants.O_RDWR) ?? createStateFile(path, 0o600, constants.O_RDWR)!;
    this.splitter = new LineSplitter(MAX_LINE_BYTES, (line, dropped) => owner.emit(stream, line, dropped));
    let watcher: FSWatcher | null = null;
    try {
      watcher = watch(path, { persistent: false }, () => this.schedule());
      watcher.on('error', () => {});
    } catch {
      // Without inotify the file is read when the instance ends (and at each poll of the owner).
    }
    this.watcher = watcher;
    this.schedule();
  }

  schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.read();
    });
  }

  read(): void {
    if (this.closed) return;
    let size: number;
    let blocks: number;
    try {
      ({ size, blocks } = fstatSync(this.fd));
    } catch {
      return;
    }
    // Space the writer allocated past its end (fallocate with KEEP_SIZE): what is read is
    // dropped with it, so a service cannot hold disk through the file schedd owns.
    if (blocks * 512 > size + PREALLOCATED_SLACK) {
      this.read0();
      try {
        ftruncateSync(this.fd, 0);
        this.offset = 0;
      } catch {
        // Tried again at the next read.
      }
      return;
    }
    this.read0(size);
  }

  /** Reads from the offset to the end (the size fstat just gave, when known) and empties the file once read past TRUNCATE_AT. */
  private read0(known?: number): void {
    let size = known ?? this.offset;
    if (known === undefined) {
      try {
        size = fstatSync(this.fd).size;
      } catch {
        return;
      }
    }
    // Emptied by the service itself (its descriptor may truncate): start over.
    if (size < this.offset) this.offset = 0;
    if (size > this.offset && !this.owner.accepting()) {
      // Past the rate bound: skip what is there without reading it.
      this.owner.countDropped(size - this.offset);
      this.offset = size;
    }
    const buffer = READ_BUFFER;
    // A bounded turn: a service writing faster than it is read must not hold the event loop.
    for (let turn = 0; ; turn++) {
      if (turn === MAX_TURN_CHUNKS) {
        // More to read: the file is emptied only once read to its end.
        this.schedule();
        return;
      }
      let n: number;
      try {
        n = readSync(this.fd, buffer, 0, CHUNK, this.offset);
      } catch {
        return;
      }
      if (n === 0) break;
      this.offset += n;
      this.splitter.push(buffer.subarray(0, n));
    }
    if (this.offset >= TRUNCATE_AT) {
      try {
        // Written to since the read that found the end: read that first (a narrower window),
        // unless the writer never pauses (then the file is emptied all the same, past 1 MiB).
        if (fstatSync(this.fd).size !== this.offset && this.offset < FORCE_TRUNCATE_AT) return this.schedule();
        ftruncateSync(this.fd, 0);
        this.offset = 0;
      } catch {
        // Read on; the file grows until the next attempt.
      }
    }
  }

  close(): void {
    this.read();
    this.closed = true;
    this.splitter.end();
    this.watcher?.close();
    closeSync(this.fd);
  }
}

/** The reading end of one instance's output files, bounded in rate. */
export class ServiceOutput {
  private readonly tails: FileTail[];
  private windowStart = Date.now();
  private windowBytes = 0;
  private droppedBytes = 0;

  constructor(stateDir: string, job: string, instance: number, private readonly sink: OutputSink) {
    this.tails = STREAMS.map((stream) => new FileTail(serviceFilePath(stateDir, job, instance, stream === 'stdout' ? 'out' : 'err'), stream, this));
  }

  /** Whether lines are still passed on in this window (a new window reports what was dropped). */
  accepting(): boolean {
    const now = Date.now();
    if (now - this.windowStart >= RATE_WINDOW_MS) {
      this.windowStart = now;
      this.windowBytes = 0;
      if (this.droppedBytes > 0) this.sink.dropped(this.droppedBytes);
      this.droppedBytes = 0;
    }
    return this.windowBytes < RATE_BYTES;
  }

  countDropped(bytes: number): void {
    this.droppedBytes += bytes;
  }

  emit(stream: OutputStream, line: Buffer, cut: number): void {
    this.droppedBytes += cut;
    if (!this.accepting()) {
      this.droppedBytes += line.length + 1;
      return;
    }
    this.windowBytes += line.length + 1;
    this.sink.line(stream, line.toString('utf8'));
  }

  /** Reads what is left and stops watching. */
  close(): void {
    for (const tail of this.tails) tail.close();
    if (this.droppedBytes > 0) this.sink.dropped(this.droppedBytes);
    this.droppedBytes = 0;
  }
}

/** Removes an instance's output files (it stays stopped; a start makes them again). */
export function removeOutputFiles(stateDir: string, job: string, instance: number): void {
  for (const kind of ['out', 'err'] as const) rmSync(serviceFilePath(stateDir, job, instance, kind), { force: true });
}
