// Runs the built `schedd start --foreground --json-logs` as a child process and follows its log.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliEnv, cliPath, TempFiles } from './cli.js';
import { processAlive } from '../../src/runner/index.js';

// Tests run from dist/test/..., fixtures stay in the source tree.
const fixturesDir = fileURLToPath(new URL('../../../test/fixtures/daemon/', import.meta.url));

export function fixture(name: string): string {
  return join(fixturesDir, name);
}

/** One pino line of the daemon's stdout (field names from src/log.ts). */
export interface LogRecord {
  level: number;
  time: string;
  msg: string;
  job?: string;
  run?: string;
  pid?: number | null;
  stream?: 'stdout' | 'stderr';
  line?: string;
  outcome?: string;
  exitCode?: number | null;
  signal?: string | null;
  durationMs?: number;
  attempt?: number;
  scheduledAt?: string;
  lateMs?: number;
  reason?: string;
  count?: number;
  crontab?: string;
  jobs?: number;
  daemonPid?: number;
  added?: string[];
  changed?: string[];
  removed?: string[];
  unchanged?: number;
  errors?: string[];
  delayMs?: number;
  running?: number;
  waiting?: number;
  since?: string;
}

/** A record matches when every given field is deep-equal; a function decides for itself. */
export type Match = Partial<LogRecord> | ((record: LogRecord) => boolean);

export function matches(record: LogRecord, match: Match): boolean {
  if (typeof match === 'function') return match(record);
  return Object.entries(match).every(([key, value]) => JSON.stringify((record as unknown as Record<string, unknown>)[key]) === JSON.stringify(value));
}

function describeMatch(match: Match): string {
  return typeof match === 'function' ? (match.name || match.toString()) : JSON.stringify(match);
}

/** Messages that end a run (its last attempt, or one attempt before a retry). */
export const RUN_END_MESSAGES = ['job finished', 'job failed', 'job timed out', 'job killed', 'job could not start'];

export interface DaemonOptions {
  /** The daemon's cwd, and HOME (so the jobs' default cwd) unless env says otherwise. */
  dir: string;
  /** As passed to -c; relative to dir. null: no -c (a --cron daemon of the cron tables alone). */
  crontab?: string | null;
  stateDir?: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

const live = new Set<DaemonProcess>();

/** Kills every daemon still running (and its unfinished jobs); for after() hooks. */
export async function killAllDaemons(): Promise<void> {
  await Promise.all([...live].map((daemon) => daemon.kill()));
}

export class DaemonProcess {
  readonly records: LogRecord[] = [];
  /** stdout lines that were not JSON (there should be none). */
  readonly unparsed: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private partial = '';
  private readonly listeners = new Set<() => void>();
  /** Process groups of runs started and not yet seen to end, killed by kill(). */
  private readonly openRuns = new Map<string, number>();

  constructor(readonly options: DaemonOptions) {
    const env: NodeJS.ProcessEnv = cliEnv({ HOME: options.dir, ...options.env });
    delete env.NODE_TEST_CONTEXT;
    const crontab = options.crontab === null ? [] : ['-c', options.crontab ?? 'crontab'];
    const args = ['start', '--foreground', '--json-logs', ...crontab, '--state-dir', options.stateDir ?? 'state', ...(options.args ?? [])];
    this.child = spawn(process.execPath, [cliPath, ...args], { cwd: options.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code, signal) => {
        if (this.partial !== '') this.onLine(this.partial);
        this.partial = '';
        this.exit = { code, signal };
        live.delete(this);
        this.notify();
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Records matching `match`, in log order. */
  all(match: Match, from = 0): LogRecord[] {
    return this.records.slice(from).filter((record) => matches(record, match));
  }

  indexOf(record: LogRecord): number {
    return this.records.indexOf(record);
  }

  /**
   * Resolves with the first record at index `from` or later that matches, whether it came
   * before the call or after. Rejects at the deadline, or when the daemon exits first, with the
   * last records in the message.
   */
  async waitFor(match: Match, timeoutMs = 15_000, from = 0): Promise<LogRecord> {
    const [record] = await this.waitForCount(match, 1, timeoutMs, from);
    return record!;
  }

  /** Resolves with the first `count` matching records at index `from` or later. */
  waitForCount(match: Match, count: number, timeoutMs = 15_000, from = 0): Promise<LogRecord[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.all(match, from);
        if (found.length >= count) {
          done();
          resolve(found.slice(0, count));
          return true;
        }
        if (this.exit !== null) {
          done();
          reject(this.failure(`the daemon exited (code ${this.exit.code}, signal ${this.exit.signal}) before ${count} record(s) matched ${describeMatch(match)} (${found.length} did)`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(this.failure(`timed out after ${timeoutMs} ms waiting for ${count} record(s) matching ${describeMatch(match)} (${this.all(match, from).length} matched)`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = (): void => void check();
      if (!check()) this.listeners.add(listener);
    });
  }

  /** Stops reading the daemon's stdout (its pipe fills and its writes block) until resume. */
  pauseOutput(): void {
    this.child.stdout!.pause();
  }

  resumeOutput(): void {
    this.child.stdout!.resume();
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Sends `signal` and resolves with the exit code; rejects if the daemon has not exited by the deadline. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number | null> {
    if (this.exit === null) this.child.kill(signal);
    return (await this.waitExit(timeoutMs)).code;
  }

  async waitExit(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.failure(`the daemon did not exit within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL to the daemon, then to the process group of every run not seen to end. Idempotent. */
  async kill(): Promise<void> {
    if (this.exit === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    for (const pid of this.openRuns.values()) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    this.openRuns.clear();
  }

  private failure(message: string): Error {
    const last = this.records.slice(-25).map((record) => `  ${JSON.stringify(record)}`);
    const parts = [message, `last ${last.length} of ${this.records.length} records:`, ...last];
    if (this.unparsed.length > 0) parts.push(`non-JSON stdout: ${JSON.stringify(this.unparsed.slice(-5))}`);
    if (this.stderr !== '') parts.push(`stderr: ${this.stderr}`);
    return new Error(parts.join('\n'));
  }

  private onStdout(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.onLine(line);
    this.notify();
  }

  private onLine(line: string): void {
    if (line === '') return;
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      this.unparsed.push(line);
      return;
    }
    this.records.push(record);
    if (record.msg === 'job started' && record.run !== undefined && typeof record.pid === 'number') this.openRuns.set(record.run, record.pid);
    if (RUN_END_MESSAGES.includes(record.msg) && record.run !== undefined) this.openRuns.delete(record.run);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** A fresh temporary directory (realpath, so it compares equal to what `pwd` prints). */
export class Workspace extends TempFiles {
  constructor() {
    super('schedd-daemon-');
  }

  private readonly daemons: DaemonProcess[] = [];

  /** Non-empty lines of a ledger file, or [] when it does not exist yet. */
  lines(name: string): string[] {
    let text: string;
    try {
      text = this.read(name);
    } catch {
      return [];
    }
    return text.split('\n').filter((line) => line !== '');
  }

  /** Starts `schedd start` in this directory; the crontab defaults to ./crontab, state to ./state. */
  start(options: Omit<DaemonOptions, 'dir'> = {}): DaemonProcess {
    const daemon = new DaemonProcess({ dir: this.dir, ...options });
    this.daemons.push(daemon);
    return daemon;
  }

  /** Kills the daemons started here (and their unfinished jobs), then removes the directory. */
  async cleanup(): Promise<void> {
    await Promise.all(this.daemons.map((daemon) => daemon.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A workspace cleaned up (daemons killed, files removed) in the test's after hook. */
export function workspace(t: { after(fn: () => unknown): void }): Workspace {
  const ws = new Workspace();
  t.after(() => ws.cleanup());
  return ws;
}

/**
 * True once `pid` has exited: kill(pid, 0) fails with ESRCH, or the process is a zombie. An
 * orphaned grandchild is reparented to PID 1, and an init that does not reap (as in some
 * containers) leaves it a zombie: dead, holding nothing, but still answering kill(pid, 0).
 */
export function hasExited(pid: number): boolean {
  return !processAlive(pid);
}

export function readPid(path: string): number {
  const pid = Number(readFileSync(path, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`expected a pid in ${path}, got ${pid}`);
  return pid;
}

/** Whole seconds between two ISO instants (throws on a fraction: slots are whole seconds). */
export function secondsBetween(fromIso: string, toIso: string): number {
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  if (ms % 1000 !== 0) throw new Error(`${fromIso} -> ${toIso} is not a whole number of seconds`);
  return ms / 1000;
}

/** The most runs executing at once among records matching `match` (each attempt is a start and an end). */
export function maxConcurrent(records: readonly LogRecord[], match: Match = () => true): number {
  let running = 0;
  let most = 0;
  for (const record of records) {
    if (!matches(record, match)) continue;
    if (record.msg === 'job started') most = Math.max(most, ++running);
    else if (RUN_END_MESSAGES.includes(record.msg)) running--;
  }
  return most;
}
