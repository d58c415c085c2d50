// Runs the built `schedd start` in detached mode (watchdog + scheduler) against a temporary
// state directory, reads its JSON log file, talks raw NDJSON to its control socket, and makes
// sure nothing it started outlives the test.
import { randomUUID } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StatusResult } from '../../src/control/commands.js';
import { processStat, type ProcessStat } from '../../src/runner/index.js';
import { runCli, TempFiles, type CliResult } from './cli.js';
import { hasExited, matches, type LogRecord, type Match } from './daemon.js';

export type { StatusResult };

// Tests run from dist/test/..., fixtures stay in the source tree.
const fixturesDir = fileURLToPath(new URL('../../../test/fixtures/daemon-mode/', import.meta.url));

export function fixture(name: string): string {
  return join(fixturesDir, name);
}

/** One line of DIR/schedd.log: the foreground helper's fields plus whatever else was logged. */
export type LogLine = LogRecord & { [field: string]: unknown };

/** /proc/PID/stat of a live process (the source's reader); throws when it is gone. */
export function procStat(pid: number): ProcessStat {
  const stat = processStat(pid);
  if (stat == null) throw new Error(`no /proc/${pid}/stat: the process is gone`);
  return stat;
}

export function procUmask(pid: number): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Umask:'));
  return line?.split(/\s+/)[1] ?? '?';
}

export function procCwd(pid: number): string {
  return readlinkSync(`/proc/${pid}/cwd`);
}

/** Live (not zombie) processes whose environment carries `NAME=value`. */
export function processesWithEnv(name: string, value: string): number[] {
  const needle = Buffer.from(`${name}=${value}\0`);
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`).includes(needle)) continue;
      if (!hasExited(pid)) found.push(pid);
    } catch {
      // Gone while we looked, or not ours to read.
    }
  }
  return found.sort((a, b) => a - b);
}

const MARK = 'SCHEDD_TEST_MARK';
const instances = new Set<Instance>();

/** Cleans up every instance not cleaned up yet; for a file-level after() hook. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...instances].map((instance) => instance.cleanup()));
}

/**
 * A temporary directory holding `crontab` and `state/`. Every process started through `cli`
 * carries a unique environment variable, inherited by the watchdog, the scheduler and every job
 * (schedd passes its environment on), so cleanup finds and kills whatever is left, however the
 * test ended.
 */
export class Instance extends TempFiles {
  readonly stateDir = join(this.dir, 'state');
  readonly crontabPath: string;
  readonly socketPath = join(this.stateDir, 'schedd.sock');
  readonly logPath = join(this.stateDir, 'schedd.log');
  readonly pidfilePath = join(this.stateDir, 'schedd.pid');
  readonly mark = randomUUID();
  private readonly clients = new Set<RawClient>();
  private cleaned = false;

  /** `crontab`: where -c points, relative to the directory (default `crontab`). */
  constructor(options: { crontab?: string } = {}) {
    super('schedd-detached-');
    this.crontabPath = join(this.dir, options.crontab ?? 'crontab');
    instances.add(this);
  }

  /** The CLI in this directory, HOME here too (so jobs run here), TZ=UTC, with the mark. */
  cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return runCli(args, { cwd: this.dir, env: { HOME: this.dir, [MARK]: this.mark, NODE_TEST_CONTEXT: undefined, ...env } });
  }

  start(extra: readonly string[] = []): Promise<CliResult> {
    return this.cli(['start', '-c', this.crontabPath, '--state-dir', this.stateDir, ...extra]);
  }

  /** Starts and checks the exact success output; returns the watchdog's pid. */
  async started(extra: readonly string[] = []): Promise<number> {
    const result = await this.start(extra);
    const pid = this.pidfile();
    const expected = { code: 0, signal: null, stdout: `schedd started (pid ${pid}); log: ${this.logPath}\n`, stderr: '' };
    if (JSON.stringify(result) !== JSON.stringify(expected)) {
      throw new Error(`schedd start: expected ${JSON.stringify(expected)}, got ${JSON.stringify(result)}\nlog:\n${this.logText()}`);
    }
    return pid!;
  }

  stop(extra: readonly string[] = []): Promise<CliResult> {
    return this.cli(['stop', '--state-dir', this.stateDir, ...extra]);
  }

  /** `schedd status --json`, which must exit 0. */
  async status(): Promise<StatusResult> {
    const result = await this.cli(['status', '--json', '--state-dir', this.stateDir]);
    if (result.code !== 0) throw new Error(`schedd status: ${JSON.stringify(result)}`);
    return JSON.parse(result.stdout) as StatusResult;
  }

  pidfile(): number | null {
    try {
      const pid = Number(readFileSync(this.pidfilePath, 'utf8').trim());
      return Number.isInteger(pid) && pid > 1 ? pid : null;
    } catch {
      return null;
    }
  }

  logText(): string {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** Every complete line of the log file, JSON records apart from anything else written there. */
  private parseLog(): { records: LogLine[]; unparsed: string[] } {
    const text = this.logText();
    const records: LogLine[] = [];
    const unparsed: string[] = [];
    for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
      if (line === '') continue;
      try {
        records.push(JSON.parse(line) as LogLine);
      } catch {
        unparsed.push(line);
      }
    }
    return { records, unparsed };
  }

  /** Every JSON record in the log file, in order. */
  records(): LogLine[] {
    return this.parseLog().records;
  }

  /** Lines of the log file that are not JSON (there should be none). */
  unparsed(): string[] {
    return this.parseLog().unparsed;
  }

  all(match: Match, from = 0): LogLine[] {
    return this.records()
      .slice(from)
      .filter((record) => matches(record, match));
  }

  /** The first record at index `from` or later that matches, with its index. */
  async waitForLog(match: Match, options: { from?: number; timeoutMs?: number } = {}): Promise<{ record: LogLine; index: number }> {
    const from = options.from ?? 0;
    const timeoutMs = options.timeoutMs ?? 15_000;
    const giveUpAt = Date.now() + timeoutMs;
    for (;;) {
      const records = this.records();
      const index = records.findIndex((record, i) => i >= from && matches(record, match));
      if (index >= 0) return { record: records[index]!, index };
      if (Date.now() > giveUpAt) {
        const last = records.slice(-20).map((r) => `  ${JSON.stringify(r)}`);
        throw new Error(`timed out after ${timeoutMs} ms waiting for a log record matching ${typeof match === 'function' ? match.toString() : JSON.stringify(match)} from index ${from}; last records:\n${last.join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Live processes started for this instance (CLI runs, watchdog, scheduler, jobs). */
  processes(): number[] {
    return processesWithEnv(MARK, this.mark);
  }

  async connect(): Promise<RawClient> {
    const client = await RawClient.connect(this.socketPath);
    this.clients.add(client);
    return client;
  }

  /** Stop politely, then SIGKILL whatever carries the mark (job process groups included). */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    instances.delete(this);
    for (const client of this.clients) client.destroy();
    if (this.processes().length > 0) await this.stop(['--timeout', '5s']).catch(() => undefined);
    await killUntilGone(() => this.processes(), this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** SIGKILL (to their groups too) the processes `pids` names until there are none; throws after 10 s. */
export async function killUntilGone(pids: () => number[], owner: string): Promise<void> {
  const giveUpAt = Date.now() + 10_000;
  for (let alive = pids(); alive.length > 0; alive = pids()) {
    for (const pid of alive) {
      try {
        if (procStat(pid).pgrp === pid) process.kill(-pid, 'SIGKILL');
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    if (Date.now() > giveUpAt) throw new Error(`processes of ${owner} survive SIGKILL: ${alive.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A temporary instance cleaned up in the test's (or suite's) after hook. */
export function instance(t: { after(fn: () => unknown): void }, options: { crontab?: string } = {}): Instance {
  const created = new Instance(options);
  t.after(() => created.cleanup());
  return created;
}

/**
 * An instance whose directory other users can traverse (its own files stay root's), with a
 * root-owned 0644 crontab of `crontab`: the start of the attacks of another local user.
 */
export function sharedInstance(t: { after(fn: () => unknown): void }, crontab: string): Instance {
  const s = instance(t);
  chmodSync(s.dir, 0o755);
  s.write('crontab', crontab);
  chmodSync(s.crontabPath, 0o644);
  return s;
}

/** A raw control-socket connection: write anything, read reply lines, see when it closes. */
export class RawClient {
  received = '';
  error: NodeJS.ErrnoException | null = null;
  closed = false;
  private readonly listeners = new Set<() => void>();
  private consumed = 0;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.received += chunk;
      this.notify();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.error = error;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  static connect(path: string, timeoutMs = 5000): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawClient(socket));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Half-closes: no more requests from this side. */
  end(data?: string): void {
    if (data === undefined) this.socket.end();
    else this.socket.end(data);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** The next reply line, parsed; rejects if the connection closes first or at the deadline. */
  nextReply(timeoutMs = 5000): Promise<unknown> {
    return this.until(`a reply line`, () => {
      const newline = this.received.indexOf('\n', this.consumed);
      if (newline < 0) return this.closed ? new Error(`the connection closed without a reply (received ${JSON.stringify(this.received.slice(this.consumed))}, error ${this.error?.code ?? 'none'})`) : undefined;
      const line = this.received.slice(this.consumed, newline);
      this.consumed = newline + 1;
      return JSON.parse(line) as unknown;
    }, timeoutMs);
  }

  /** Resolves once the server has closed the connection. */
  waitClosed(timeoutMs = 5000): Promise<void> {
    return this.until('the connection to close', () => (this.closed ? null : undefined), timeoutMs).then(() => undefined);
  }

  /** What arrived that nextReply has not returned. */
  get unread(): string {
    return this.received.slice(this.consumed);
  }

  private until<T>(what: string, check: () => T | Error | undefined, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = (): boolean => {
        let value: T | Error | undefined;
        try {
          value = check();
        } catch (error) {
          value = error as Error;
        }
        if (value === undefined) return false;
        clearTimeout(timer);
        this.listeners.delete(attempt);
        if (value instanceof Error) reject(value);
        else resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        this.listeners.delete(attempt);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (unread ${JSON.stringify(this.unread.slice(0, 200))})`));
      }, timeoutMs);
      if (!attempt()) this.listeners.add(attempt);
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** One request on a fresh connection; the parsed reply. */
export async function ask(path: string, request: object, timeoutMs = 5000): Promise<unknown> {
  const client = await RawClient.connect(path, timeoutMs);
  try {
    client.write(`${JSON.stringify(request)}\n`);
    return await client.nextReply(timeoutMs);
  } finally {
    client.destroy();
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
