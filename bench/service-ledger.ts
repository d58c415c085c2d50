import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recorderPath } from './common.js';
import { alive } from './proc.js';

/**
 * The services workload's service and its ledger. Every supervisor runs the same program: a
 * shell that has the recorder append "<label>:<pid> <epoch-ns>" (its own pid, `$$`) and then
 * execs a long sleep, so the pid in the ledger is the process the supervisor started and the
 * one to kill. A start's time is taken by the new process itself, as the lateness bench does.
 */

/** The sleep's argv, also how a leftover service is recognised (`sweep`). By path: a supervisor's PATH may not have it. */
const SLEEP = ['/bin/sleep', '2147483647'];

/** Writes the service program into `dir`; returns its path. */
export function writeServiceScript(dir: string): string {
  const file = join(dir, 'service.sh');
  writeFileSync(file, `"${recorderPath()}" "$2" "$1:$$"\nexec ${SLEEP.join(' ')}\n`, { mode: 0o755 });
  return file;
}

export interface ServiceStart {
  label: string;
  pid: number;
  atMs: number;
}

/** One peer's ledger, read incrementally (the crash rounds poll it every few milliseconds). */
export class ServiceLedger {
  /** Every start in the order written. */
  readonly starts: ServiceStart[] = [];
  /** The newest start of each label. */
  readonly latest = new Map<string, ServiceStart>();
  private offset = 0;
  private partial = '';

  constructor(readonly file: string) {}

  refresh(): void {
    if (!existsSync(this.file)) return;
    const fd = openSync(this.file, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return;
      const buffer = Buffer.alloc(size - this.offset);
      const read = readSync(fd, buffer, 0, buffer.length, this.offset);
      this.offset += read;
      const lines = (this.partial + buffer.subarray(0, read).toString('utf8')).split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) this.add(line);
    } finally {
      closeSync(fd);
    }
  }

  private add(line: string): void {
    const match = /^(\S+):(\d+) (\d+)$/.exec(line);
    if (match === null) return;
    const start = { label: match[1]!, pid: Number(match[2]), atMs: Number(BigInt(match[3]!) / 1000n) / 1000 };
    this.starts.push(start);
    this.latest.set(start.label, start);
  }

  /** The first start of `label` after `afterMs` by another process than `pid`. */
  startAfter(label: string, pid: number, afterMs: number): ServiceStart | undefined {
    const newest = this.latest.get(label);
    if (newest === undefined || newest.pid === pid || newest.atMs < afterMs) return undefined;
    return this.starts.find((s) => s.label === label && s.pid !== pid && s.atMs >= afterMs);
  }

  /** The pids of the newest start of each label that are still alive. */
  running(): number[] {
    return [...this.latest.values()].map((s) => s.pid).filter(alive);
  }

  /** Every one of `count` labels has started, and its newest process is alive (not crash-looping). */
  allRunning(count: number): boolean {
    this.refresh();
    return this.latest.size >= count && this.running().length >= count;
  }
}

function isLeftoverService(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === `${SLEEP.join('\0')}\0`;
  } catch {
    return false;
  }
}

/**
 * SIGKILLs every service process the ledger names that is still alive (a supervisor that died,
 * or that stops its jobs only after a long grace), by pid, after checking that the pid is still
 * our sleep and not a reused one.
 */
export function sweep(ledger: ServiceLedger): number {
  ledger.refresh();
  let killed = 0;
  for (const pid of new Set(ledger.starts.map((s) => s.pid))) {
    if (!alive(pid) || !isLeftoverService(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // gone in between
    }
  }
  return killed;
}
