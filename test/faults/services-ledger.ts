// The services scenario's services and their ledger. Each service process appends its own
// lines (O_APPEND, one short line per write), never schedd:
//   start <job> <instance> <pid> <run> <epoch ms> <ppid> <version>
//   beat  <job> <instance> <pid> <run> <epoch ms>
//   exit  <job> <instance> <pid> <run> <epoch ms>      (its TERM trap, just before it exits)
// A process is named by its run id (SCHEDD_RUN_ID), not its pid: with pid_max 32768 and a
// busy machine, pids come round again within the scenario.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { hasExited } from '../helpers/daemon.js';

/**
 * `$1` ledger, `$2` job, `$3` seconds its TERM trap takes (a graceful exit that can be cut
 * short by a kill). The trap is set before the start line, so a TERM that comes after the
 * start line always leaves an exit line. The ppid is the scheduler that started it.
 */
export const SERVICE_SCRIPT = `ledger=$1 job=$2 grace=$3
id="$job $SCHEDD_INSTANCE $$ $SCHEDD_RUN_ID"
trap '[ "$grace" = 0 ] || sleep "$grace"; echo "exit $id $(date +%s%3N)" >> "$ledger"; exit 0' TERM
echo "start $id $(date +%s%3N) $PPID \${VERSION:--}" >> "$ledger"
while :; do
  sleep 0.25
  echo "beat $id $(date +%s%3N)" >> "$ledger"
done
`;

export interface ServiceConfig {
  instances: number;
  /** restart-delay (as given, or the default 1 s), restart-max-delay, stable. */
  baseMs: number;
  maxMs: number;
  stableMs: number;
  /**
   * Its options as written in the crontab. The numbers above are what they mean, written out
   * apart so that the check holds schedd to the spec rather than to its own parse.
   */
  options: string;
  /** Seconds its TERM trap takes. */
  graceS: number;
}

/**
 * The scenario's services, in crontab order: `extra` comes and goes with edits, `solo` runs on
 * the default restart-delay (1 s), `pair` restarts only on failure, and `web` (three
 * instances) sits under the env line VERSION that the edits change.
 */
export const SERVICES = {
  extra: { instances: 1, baseMs: 1000, maxMs: 300_000, stableMs: 30_000, options: '', graceS: 0 },
  solo: { instances: 1, baseMs: 1000, maxMs: 4000, stableMs: 2000, options: 'restart-max-delay=4s stable=2s', graceS: 0 },
  pair: { instances: 2, baseMs: 250, maxMs: 1000, stableMs: 1500, options: 'instances=2 restart=on-failure restart-delay=250ms restart-max-delay=1s stable=1500ms', graceS: 0 },
  web: { instances: 3, baseMs: 400, maxMs: 3200, stableMs: 3000, options: 'instances=3 restart-delay=400ms restart-max-delay=3200ms stable=3s', graceS: 0.5 },
} satisfies Record<string, ServiceConfig>;

export type ServiceName = keyof typeof SERVICES;
export const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];

export function isServiceName(job: string): job is ServiceName {
  return Object.hasOwn(SERVICES, job);
}

/** The crontab at one point of the scenario: web's VERSION, and whether `extra` is in it. */
export function servicesCrontab(script: string, ledger: string, state: { version: number; extra: boolean }): string {
  const entry = (name: ServiceName): string => {
    const service: ServiceConfig = SERVICES[name];
    // start-limit out of the way: the scenario's kills never make a service failed.
    const options = [service.options, 'start-limit=1000/1m stop-timeout=5s'].filter((o) => o !== '').join(' ');
    return `# schedd: name=${name} service ${options}\n@reboot sh ${script} ${ledger} ${name} ${service.graceS}\n`;
  };
  return `${state.extra ? entry('extra') : ''}${entry('solo')}${entry('pair')}VERSION=${state.version}\n${entry('web')}`;
}

/** One service process, as its own lines tell it. */
export interface ServiceRun {
  run: string;
  job: string;
  instance: number;
  pid: number;
  /** Its start line (null: a TERM came between the trap and the start line). */
  startAt: number | null;
  ppid: number | null;
  version: number | null;
  /** Its last line of any kind. */
  lastSeenAt: number;
  /** Its exit line (TERM trap). */
  exitAt: number | null;
}

/** The ledger, read on as it grows (complete lines only). */
export class ServiceLedger {
  readonly runs = new Map<string, ServiceRun>();
  private offset = 0;
  private partial = '';

  constructor(private readonly path: string) {}

  refresh(): this {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return this;
    }
    try {
      const buffer = Buffer.allocUnsafe(64 * 1024);
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, this.offset)) > 0; ) {
        this.offset += n;
        const lines = (this.partial + buffer.subarray(0, n).toString('utf8')).split('\n');
        this.partial = lines.pop()!;
        for (const line of lines) if (line !== '') this.add(line);
      }
    } finally {
      closeSync(fd);
    }
    return this;
  }

  private add(line: string): void {
    const [kind, job, instance, pid, run, at, ppid, version] = line.split(' ');
    const atMs = Number(at);
    if ((kind !== 'start' && kind !== 'beat' && kind !== 'exit') || !Number.isInteger(atMs) || run === undefined || run === '') throw new Error(`malformed ledger line: ${JSON.stringify(line)}`);
    let entry = this.runs.get(run);
    if (entry === undefined) {
      entry = { run, job: job!, instance: Number(instance), pid: Number(pid), startAt: null, ppid: null, version: null, lastSeenAt: atMs, exitAt: null };
      this.runs.set(run, entry);
    }
    entry.lastSeenAt = Math.max(entry.lastSeenAt, atMs);
    if (kind === 'start') {
      entry.startAt = atMs;
      entry.ppid = Number(ppid);
      entry.version = version === '-' ? null : Number(version);
    } else if (kind === 'exit') entry.exitAt ??= atMs;
  }

  /** Runs of one instance, by start (or first line). */
  runsOf(job: string, instance: number): ServiceRun[] {
    return [...this.runs.values()].filter((r) => r.job === job && r.instance === instance).sort((a, b) => (a.startAt ?? a.lastSeenAt) - (b.startAt ?? b.lastSeenAt));
  }
}

/**
 * True while the process of `run` lives: its pid is not a zombie and carries that run id in its
 * environment (so a pid reused by another process is not taken for it).
 */
export function runAlive(run: Pick<ServiceRun, 'pid' | 'run'>): boolean {
  try {
    if (!readFileSync(`/proc/${run.pid}/environ`).includes(Buffer.from(`SCHEDD_RUN_ID=${run.run}\0`))) return false;
  } catch {
    return false;
  }
  return !hasExited(run.pid);
}
