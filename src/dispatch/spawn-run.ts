import type { Entry } from '../crontab/types.js';
import type { Account } from '../accounts.js';
import type { RunEvents } from '../events/run-events.js';
import { hasSetpriv, type RunHandle, type RunHooks, type RunSpec } from '../runner/index.js';
import { groupIds, jobProcess } from './job-env.js';

/** Starts one process for a spec (startRun from runner/, or a fake in tests). */
export type Spawner = (spec: RunSpec, hooks: RunHooks) => RunHandle;

export interface SpawnOptions {
  spawner: Spawner;
  events: RunEvents;
  killGraceMs: number;
  cleanEnv: boolean;
  /** Where jobs' environment starts (process.env): read once, at the first run. */
  baseEnv: NodeJS.ProcessEnv;
  /** Accounts of the users jobs run as (system crontab or `user=`), resolved by the daemon. */
  accounts: ReadonlyMap<string, Account>;
}

/** One entry's run as a process: its spec from job-env (shell, environment, cwd, account). */
export class RunSpawner {
  /**
   * The environment schedd was started with, copied once: enumerating process.env costs about
   * 20 microseconds, on the spawn path of every job. Copied at the first run, after any
   * privilege drop has set HOME and USER.
   */
  private baseEnv: Record<string, string> | null = null;
  /** Without setpriv: each user's group ids, looked up once, as the accounts are. */
  private readonly groups = new Map<string, number[] | null>();

  constructor(private readonly options: SpawnOptions) {}

  /** `gated`: the process is started held at its gate, and runs once released. */
  spawn(entry: Entry, runId: string, scheduledAt: number, gated: boolean): RunHandle {
    const { events } = this.options;
    const job = entry.id;
    return this.options.spawner(this.spec(entry, runId, scheduledAt, gated), {
      onLine: (stream, line) => events.emit({ type: 'output', job, run: runId, stream, line }),
      onTruncated: (info) => events.emit({ type: 'output', job, run: runId, truncated: true, droppedBytes: info.droppedBytes }),
    });
  }

  /** What a run of the entry is started with (a service's too, which services/ then adapts). */
  spec(entry: Entry, runId: string, scheduledAt: number, gated: boolean): RunSpec {
    const { options } = this;
    const userName = entry.user ?? entry.options.user;
    const account = userName === undefined ? undefined : options.accounts.get(userName);
    this.baseEnv ??= Object.fromEntries(Object.entries(options.baseEnv).filter((pair): pair is [string, string] => pair[1] !== undefined));
    const { shell, env, cwd, cwdIsHome } = jobProcess(entry, { runId, scheduledAt }, { cleanEnv: options.cleanEnv, baseEnv: this.baseEnv, account });
    const spec: RunSpec = { command: entry.command, shell, stdin: entry.stdin, env, cwd, gated, killGraceMs: options.killGraceMs };
    if (cwdIsHome) spec.cwdIsHome = true;
    if (entry.options.timeoutMs !== undefined) spec.timeoutMs = entry.options.timeoutMs;
    if (account !== undefined) {
      spec.account = { name: account.name, uid: account.uid, gid: account.gid };
      if (!hasSetpriv()) {
        if (!this.groups.has(account.name)) this.groups.set(account.name, groupIds(account.name));
        spec.account.groups = this.groups.get(account.name)!;
      }
    }
    return spec;
  }
}
