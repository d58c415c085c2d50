// Raw control-socket clients for the bad-input scenario, and the daemon's memory and fds from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';

/** VmRSS of `pid` in bytes. */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Samples a process's RSS every 100 ms, keeping the peak. */
export class RssSampler {
  readonly baseline: number;
  peak: number;
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly pid: number) {
    this.baseline = rssBytes(pid);
    this.peak = this.baseline;
    this.timer = setInterval(() => this.sample(), 100);
  }

  sample(): number {
    const rss = rssBytes(this.pid);
    this.peak = Math.max(this.peak, rss);
    return rss;
  }

  /** Stops sampling, after a last sample; later calls do nothing (the process may be gone). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.sample();
  }
}

/**
 * One raw connection: everything it receives, split into reply lines, and how it ended. Writes
 * never throw: a server that closes on us is an outcome (`writeError`), not a crash of the test.
 */
export class RawConnection {
  readonly socket: Socket;
  received = '';
  closed = false;
  writeError: string | null = null;
  connectError: string | null = null;
  readonly connected: Promise<boolean>;
  readonly done: Promise<void>;

  constructor(path: string, options: { read?: boolean } = {}) {
    this.socket = createConnection(path);
    this.socket.setEncoding('utf8');
    // A client that never reads: no 'data' listener, so the kernel's buffers fill up.
    if (options.read !== false) this.socket.on('data', (chunk: string) => (this.received += chunk));
    let isConnected = false;
    this.connected = new Promise((resolve) => {
      this.socket.once('connect', () => {
        isConnected = true;
        resolve(true);
      });
      this.socket.on('error', (error: NodeJS.ErrnoException) => {
        const code = error.code ?? error.message;
        if (isConnected) {
          this.writeError ??= code;
        } else {
          this.connectError ??= code;
          resolve(false);
        }
      });
    });
    this.done = new Promise((resolve) => this.socket.once('close', () => {
      this.closed = true;
      resolve();
    }));
  }

  /** Complete reply lines so far, parsed. */
  replies(): { ok: boolean; id?: unknown; result?: unknown; error?: { code: string; message: string } }[] {
    return this.received.split('\n').slice(0, -1).map((line) => JSON.parse(line) as never);
  }

  write(data: string | Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.writeError !== null) return resolve(false);
      this.socket.write(data, (error) => resolve(error === undefined || error === null));
    });
  }

  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Waits for `promise`, or rejects with `what` after `timeoutMs`. */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
