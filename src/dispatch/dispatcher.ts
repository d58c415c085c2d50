/*
 * How this works.
 *
 * The scheduler says "job J's slot S is due"; the dispatcher decides what that means for
 * processes. Each slot that is not skipped becomes a Run, which lives from the moment it is
 * accepted until its last attempt ends:
 *
 *   jitter wait -> (waiting for a free place under --max-concurrent) -> running
 *     -> finished, or -> retry wait -> running -> ...
 *
 * A job is *active* while any of its Runs exists. A slot that comes while the job is active
 * meets its overlap policy: skip (the default: logged and dropped), allow (a second Run),
 * queue (kept as the one waiting Run, started when the job goes idle; a further slot is
 * skipped), replace (active Runs are stopped, and the new one starts once they have exited).
 *
 * Timers owned here: one per Run for its jitter or retry wait. The process itself (timeout,
 * SIGTERM -> SIGKILL) is the runner's. Processes a finished run left in its group are not part
 * of any Run (the job is idle): Leftovers tracks them until the job's timeout or schedd's stop. Nothing here throws at the daemon: a job that cannot
 * start is a Run that ends with outcome 'error'.
 */
import { hostname } from 'node:os';
import { groupIds, newRunId, jobProcess, stableJitterMs } from './job-env.js';
import type { Entry } from '../crontab/types.js';
import type { LastRunView } from '../job-view.js';
import type { Log } from '../log.js';
import { hasSetpriv, startRun, type RunHandle, type RunResult, type RunSpec } from '../runner/index.js';
import { formatDuration } from '../crontab/duration.js';
import { Leftovers } from './leftovers.js';
import type { Account } from '../accounts.js';
import type { RunStore } from '../store/types.js';

export interface DispatcherOptions {
  log: Log;
  killGraceMs: number;
  /** Cap on runs executing at once across all jobs; null for none. */
  maxConcurrent: number | null;
  cleanEnv: boolean;
  /** Where jobs' environment starts (process.env): read once, at the first run. */
  baseEnv: NodeJS.ProcessEnv;
  /** Accounts of the users jobs run as (system crontab or `user=`), resolved by the daemon. */
  accounts: ReadonlyMap<string, Account>;
  /** Where runs are recorded (the run history); nothing is recorded without it. */
  recorder?: Recorder;
}

export type Recorder = Pick<RunStore, 'claim' | 'started' | 'finished' | 'retrying' | 'cancelled' | 'notRun'>;

export interface FireResult {
  status: 'started' | 'skipped' | 'queued' | 'replacing';
  run?: string;
  reason?: string;
}

export interface LastRun extends LastRunView {
  run: string;
}

export interface RunningInfo {
  job: string;
  run: string;
  pid: number | null;
  startedAt: number;
}

interface Run {
  id: string;
  entry: Entry;
  scheduledAt: number;
  attempt: number;
  handle: RunHandle | null;
  timer: NodeJS.Timeout | null;
  cancelled: boolean;
  /** Stopped because schedd is stopping: recorded as interrupted. */
  interrupted: boolean;
}

/** A process started ahead of a slot and held at its gate (see SchedulerListener.prepare). */
interface Prepared {
  entry: Entry;
  scheduledAt: number;
  runId: string;
  handle: RunHandle;
  dead: boolean;
}

interface JobRuntime {
  active: Set<Run>;
  /** overlap=queue: the one slot waiting for the job to go idle. */
  queued: { entry: Entry; scheduledAt: number } | null;
  /** overlap=replace: the slot to start once the stopped runs have exited. */
  replacement: { entry: Entry; scheduledAt: number } | null;
  /** catchup=all: missed slots still to run, oldest first, one after another. */
  backlog: { entry: Entry; scheduledAt: number }[];
}

/** The first retry waits 1 s; each further one twice as long, up to 10 minutes. */
const RETRY_BASE_MS = 1000;
const MAX_RETRY_DELAY_MS = 10 * 60_000;

export class Dispatcher {
  private readonly jobs = new Map<string, JobRuntime>();
  private readonly waiting: Run[] = [];
  private readonly executing = new Set<Run>();
  private readonly host = hostname();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly prepared = new Map<string, Prepared>();
  private readonly lastRuns = new Map<string, LastRun>();
  /**
   * The environment schedd was started with, copied once: enumerating process.env costs about
   * 20 microseconds, on the spawn path of every job. Copied at the first run, after any
   * privilege drop has set HOME and USER.
   */
  private baseEnv: Record<string, string> | null = null;
  private closed = false;
  /** Without setpriv: each user's group ids, looked up once, as the accounts are. */
  private readonly groups = new Map<string, number[] | null>();
  private readonly leftovers: Leftovers;

  constructor(private readonly options: DispatcherOptions) {
    this.leftovers = new Leftovers(options.log, options.killGraceMs);
  }

  /** Kills what finished runs left behind in their groups (see Leftovers). */
  killLeftovers(reason: string): Promise<void> {
    return this.leftovers.killAll(reason);
  }

  /**
   * Starts the process for a slot ahead of time, held at a gate, when the slot is likely to
   * run: not for jittered jobs, nor while an active run means the slot would be skipped.
   */
  prepare(entry: Entry, scheduledAt: number): void {
    this.unprepare(entry.id);
    if (this.closed || (entry.options.jitterMs ?? 0) > 0) return;
    const job = this.jobs.get(entry.id);
    const policy = entry.options.overlap ?? 'skip';
    if (job !== undefined && job.active.size > 0 && policy !== 'allow') return;
    const max = this.options.maxConcurrent;
    // Held processes count against the cap too: it is there to bound how many processes exist.
    if (max !== null && this.executing.size + this.prepared.size >= max) return;
    const runId = newRunId(Date.now());
    const handle = this.spawn(entry, runId, scheduledAt, true);
    const prepared: Prepared = { entry, scheduledAt, runId, handle, dead: false };
    void handle.done.then(() => (prepared.dead = true));
    this.prepared.set(entry.id, prepared);
  }

  /** Drops a held process that will not be used. */
  unprepare(jobId: string): void {
    const prepared = this.prepared.get(jobId);
    if (prepared === undefined) return;
    this.prepared.delete(jobId);
    prepared.handle.abort();
  }

  /** The held process for exactly this entry and slot, if there is a live one. */
  private takePrepared(entry: Entry, scheduledAt: number): Prepared | null {
    const prepared = this.prepared.get(entry.id);
    if (prepared === undefined) return null;
    this.prepared.delete(entry.id);
    if (prepared.entry === entry && prepared.scheduledAt === scheduledAt && !prepared.dead) return prepared;
    prepared.handle.abort();
    return null;
  }

  /** A slot is due (or `schedd run` asked for one): what became of it. */
  fire(entry: Entry, scheduledAt: number): FireResult {
    if (this.closed) return { status: 'skipped', reason: 'schedd is stopping' };
    const prepared = this.takePrepared(entry, scheduledAt);
    const result = this.fireNow(entry, scheduledAt, prepared);
    if (result.status !== 'started') prepared?.handle.abort();
    return result;
  }

  private fireNow(entry: Entry, scheduledAt: number, prepared: Prepared | null): FireResult {
    const job = this.runtime(entry.id);
    const policy = entry.options.overlap ?? 'skip';
    const at = new Date(scheduledAt).toISOString();
    if (job.active.size > 0 && policy !== 'allow') {
      if (policy === 'skip') return this.skip(entry, scheduledAt, 'previous run still active', 'skip');
      if (policy === 'queue') {
        if (job.queued !== null) return this.skip(entry, scheduledAt, 'a run is already queued', 'queue');
        job.queued = { entry, scheduledAt };
        this.options.log.info({ job: entry.id, scheduledAt: at }, 'job queued: previous run still active');
        return { status: 'queued', reason: 'previous run still active (overlap=queue)' };
      }
      job.replacement = { entry, scheduledAt };
      this.options.log.info({ job: entry.id, scheduledAt: at, running: job.active.size }, 'job replacing previous run');
      for (const run of [...job.active]) this.cancel(run, 'replaced by a newer run');
      return { status: 'replacing', reason: 'the running run is being stopped (overlap=replace)' };
    }
    return { status: 'started', run: this.accept(job, entry, scheduledAt, prepared) };
  }

  /** Runs missed slots in order, one after another (catchup). */
  catchUp(entry: Entry, slots: readonly number[]): void {
    if (this.closed || slots.length === 0) return;
    const job = this.runtime(entry.id);
    const [first, ...rest] = slots;
    job.backlog.push(...rest.map((scheduledAt) => ({ entry, scheduledAt })));
    if (job.active.size === 0) this.accept(job, entry, first!);
    else job.backlog.unshift({ entry, scheduledAt: first! });
  }

  /** A slot not run because of the overlap policy: logged, recorded, and said to the caller. */
  private skip(entry: Entry, scheduledAt: number, why: string, policy: string): FireResult {
    this.options.log.warn({ job: entry.id, scheduledAt: new Date(scheduledAt).toISOString(), reason: why }, `job skipped: ${why}`);
    this.options.recorder?.notRun(entry.id, scheduledAt, 'skipped', `${why} (overlap=${policy})`);
    return { status: 'skipped', reason: `${why} (overlap=${policy})` };
  }

  /** A run waits (jitter, retry backoff), then asks for a place to run. */
  private admitAfter(run: Run, delayMs: number): void {
    run.timer = setTimeout(() => {
      run.timer = null;
      this.admit(run);
    }, delayMs);
  }

  lastRun(jobId: string): LastRun | null {
    return this.lastRuns.get(jobId) ?? null;
  }

  /** The job left the crontab: pending runs are dropped, running ones finish (without retries). */
  forget(jobId: string): void {
    const job = this.jobs.get(jobId);
    this.unprepare(jobId);
    if (job === undefined) return;
    job.queued = null;
    job.replacement = null;
    job.backlog = [];
    for (const run of [...job.active]) {
      if (run.handle === null) this.cancel(run, 'job removed from the crontab');
      else run.cancelled = true;
    }
    // Nothing left of a removed job once its runs are over (a renamed job would pile up).
    if (job.active.size === 0) this.jobs.delete(jobId);
    this.lastRuns.delete(jobId);
  }

  running(): RunningInfo[] {
    return [...this.executing].map((run) => ({ job: run.entry.id, run: run.id, pid: run.handle?.pid ?? null, startedAt: run.handle?.startedAt ?? 0 }));
  }

  isActive(jobId: string): boolean {
    return (this.jobs.get(jobId)?.active.size ?? 0) > 0;
  }

  /** Stop accepting work and drop everything not yet running. */
  close(): void {
    this.closed = true;
    for (const id of [...this.prepared.keys()]) this.unprepare(id);
    for (const job of this.jobs.values()) {
      job.queued = null;
      job.replacement = null;
      job.backlog = [];
      for (const run of [...job.active]) if (run.handle === null) this.cancel(run, 'schedd is stopping');
    }
  }

  /** Resolves when no run is executing. */
  idle(): Promise<void> {
    if (this.executing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops every executing run (SIGTERM to its group, SIGKILL after the kill grace). */
  terminateAll(reason: string): void {
    for (const run of this.executing) {
      run.cancelled = true;
      run.interrupted = true;
      run.handle?.stop(reason);
    }
  }

  private runtime(id: string): JobRuntime {
    let job = this.jobs.get(id);
    if (job === undefined) {
      job = { active: new Set(), queued: null, replacement: null, backlog: [] };
      this.jobs.set(id, job);
    }
    return job;
  }

  private accept(job: JobRuntime, entry: Entry, scheduledAt: number, prepared: Prepared | null = null): string {
    const run: Run = { id: prepared?.runId ?? newRunId(Date.now()), entry, scheduledAt, attempt: 1, handle: null, timer: null, cancelled: false, interrupted: false };
    job.active.add(run);
    // Recorded (committed) before the job's process runs: after a crash this slot is known,
    // and never run twice.
    this.options.recorder?.claim(run.id, entry.id, scheduledAt);
    this.proceed(run, prepared);
    return run.id;
  }

  private proceed(run: Run, prepared: Prepared | null): void {
    const { entry } = run;
    const max = this.options.maxConcurrent;
    if (prepared !== null && (max === null || this.executing.size < max)) {
      this.launch(run, prepared.handle);
      return;
    }
    prepared?.handle.abort();
    const jitterMs = stableJitterMs(entry.id, this.host, entry.options.jitterMs ?? 0);
    if (jitterMs > 0) {
      this.options.log.debug({ job: entry.id, run: run.id, delayMs: jitterMs }, 'job delayed by jitter');
      this.admitAfter(run, jitterMs);
    } else {
      this.admit(run);
    }
  }

  private admit(run: Run): void {
    const max = this.options.maxConcurrent;
    if (max !== null && this.executing.size >= max) {
      this.waiting.push(run);
      this.options.log.info({ job: run.entry.id, run: run.id, running: this.executing.size, waiting: this.waiting.length }, 'job waiting: --max-concurrent reached');
      return;
    }
    this.launch(run);
  }

  private spawn(entry: Entry, runId: string, scheduledAt: number, gated: boolean): RunHandle {
    const userName = entry.user ?? entry.options.user;
    const account = userName === undefined ? undefined : this.options.accounts.get(userName);
    this.baseEnv ??= Object.fromEntries(Object.entries(this.options.baseEnv).filter((pair): pair is [string, string] => pair[1] !== undefined));
    const { shell, env, cwd } = jobProcess(entry, { runId, scheduledAt }, { cleanEnv: this.options.cleanEnv, baseEnv: this.baseEnv, account });
    const spec: RunSpec = { command: entry.command, shell, stdin: entry.stdin, env, cwd, gated, killGraceMs: this.options.killGraceMs };
    if (entry.options.timeoutMs !== undefined) spec.timeoutMs = entry.options.timeoutMs;
    if (account !== undefined) {
      spec.account = { name: account.name, uid: account.uid, gid: account.gid };
      if (!hasSetpriv()) {
        if (!this.groups.has(account.name)) this.groups.set(account.name, groupIds(account.name));
        spec.account.groups = this.groups.get(account.name)!;
      }
    }
    const log = this.options.log;
    return startRun(spec, {
      onLine: (stream, line) => log.info({ job: entry.id, run: runId, stream, line }, 'job output'),
      onTruncated: (info) => log.warn({ job: entry.id, run: runId, droppedBytes: info.droppedBytes }, 'job output truncated'),
    });
  }

  private launch(run: Run, prepared: RunHandle | null = null): void {
    const { entry } = run;
    const log = this.options.log;
    let handle: RunHandle;
    if (prepared !== null) {
      handle = prepared;
      handle.release();
    } else {
      handle = this.spawn(entry, run.id, run.scheduledAt, false);
    }
    run.handle = handle;
    this.executing.add(run);
    this.options.recorder?.started(run.id, handle.pid, handle.startedAt, run.attempt);
    log.info(
      { job: entry.id, run: run.id, pid: handle.pid, attempt: run.attempt, scheduledAt: new Date(run.scheduledAt).toISOString(), lateMs: handle.startedAt - run.scheduledAt },
      'job started',
    );
    void handle.done.then((result) => this.finished(run, result));
  }

  private finished(run: Run, result: RunResult): void {
    this.executing.delete(run);
    run.handle = null;
    const { entry } = run;
    const outcome = run.interrupted && result.outcome === 'killed' ? 'interrupted' : result.outcome;
    this.options.recorder?.finished(run.id, {
      outcome,
      exitCode: result.exitCode,
      signal: result.signal,
      startedAt: result.startedAt,
      finishedAt: result.finishedAt,
      durationMs: result.durationMs,
      attempt: run.attempt,
      ...(result.reason === undefined ? {} : { reason: result.reason }),
      output: result.output,
    });
    this.lastRuns.set(entry.id, {
      run: run.id,
      startedAt: new Date(result.startedAt).toISOString(),
      finishedAt: new Date(result.finishedAt).toISOString(),
      exitCode: result.exitCode,
      signal: result.signal,
      outcome,
    });
    const fields = { job: entry.id, run: run.id, pid: result.pid, outcome: result.outcome, exitCode: result.exitCode, signal: result.signal, durationMs: Math.round(result.durationMs), attempt: run.attempt };
    const message = result.outcome === 'ok' ? 'job finished' : `job ${result.outcome === 'failed' ? 'failed' : result.outcome === 'timeout' ? 'timed out' : result.outcome === 'killed' ? 'killed' : 'could not start'}`;
    if (result.outcome === 'ok') this.options.log.info(fields, message);
    else this.options.log.warn(result.reason === undefined ? fields : { ...fields, reason: result.reason }, message);
    if (result.leftBehind !== undefined && result.pid !== null) {
      const timeoutMs = entry.options.timeoutMs;
      this.leftovers.track(entry.id, run.id, result.pid, result.leftBehind, timeoutMs === undefined ? null : timeoutMs - result.durationMs);
    }
    this.pullWaiting();
    const retries = entry.options.retries ?? 0;
    const retriable = result.outcome === 'failed' || result.outcome === 'timeout' || result.outcome === 'error';
    if (retriable && !run.cancelled && !this.closed && run.attempt <= retries) {
      const delayMs = Math.min(RETRY_BASE_MS * 2 ** (run.attempt - 1), MAX_RETRY_DELAY_MS);
      // The failed attempt keeps a history row of its own (RUN.N): one 'ok' row alone hid it.
      const how = result.outcome === 'failed' ? `failed (exit ${result.exitCode})` : result.outcome === 'timeout' ? (result.reason ?? 'timed out') : `could not start: ${result.reason ?? 'error'}`;
      this.options.recorder?.retrying(run.id, `${run.id}.${run.attempt}`, `attempt ${run.attempt}/${retries + 1} ${how}; retried after ${formatDuration(delayMs)}`);
      run.attempt++;
      this.options.log.info({ job: entry.id, run: run.id, attempt: run.attempt, delayMs }, 'job retry scheduled');
      this.admitAfter(run, delayMs);
    } else {
      this.retire(run);
    }
    if (this.executing.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** A run is over: the job may go idle, which releases a queued or replacing slot. */
  private retire(run: Run): void {
    const job = this.runtime(run.entry.id);
    job.active.delete(run);
    if (job.active.size > 0) return;
    const next = job.replacement ?? job.backlog.shift() ?? job.queued;
    if (next === job.replacement) job.replacement = null;
    else if (next === job.queued) job.queued = null;
    if (next !== null && !this.closed) this.accept(job, next.entry, next.scheduledAt);
  }

  private cancel(run: Run, reason: string): void {
    run.cancelled = true;
    if (run.handle !== null) {
      run.handle.stop(reason);
      return;
    }
    if (run.timer !== null) clearTimeout(run.timer);
    run.timer = null;
    const index = this.waiting.indexOf(run);
    if (index >= 0) this.waiting.splice(index, 1);
    this.options.log.info({ job: run.entry.id, run: run.id, reason }, 'job run cancelled');
    this.options.recorder?.cancelled(run.id, reason);
    this.retire(run);
  }

  private pullWaiting(): void {
    const max = this.options.maxConcurrent;
    while (this.waiting.length > 0 && (max === null || this.executing.size < max)) this.launch(this.waiting.shift()!);
  }
}
