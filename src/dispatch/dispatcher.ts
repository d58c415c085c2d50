/*
 * How this works.
 *
 * The scheduler says "job J's slot S is due"; the dispatcher decides what that means for
 * processes. Each slot that is not skipped becomes a Run (run.ts), known by its run id; what it
 * stands for (a slot, `schedd run`, a catch-up, @reboot) is its trigger. A Run lives from the
 * moment it is accepted until its last attempt ends:
 *
 *   claiming -> jitter wait -> (waiting for a free place under --max-concurrent) -> running
 *     -> finished, or -> retry wait -> running -> ...
 *
 * Claiming: the run's slot is claimed in the history (awaited: the history knows the slot
 * before the job runs, and is never run twice after a crash). A lost claim is not run (a
 * skip); an unrecorded one (the history is down) runs anyway unless the `unrecorded` policy
 * says skip. A stop or a forget while the claim is pending cancels the run: it never starts.
 *
 * A job is *active* while any of its Runs exists. A slot that comes while the job is active
 * meets its overlap policy (overlap.ts): skip (the default: reported and dropped), allow (a
 * second Run), queue (kept as the one waiting Run, started when the job goes idle; a further
 * slot is skipped), replace (active Runs are stopped, and the new one starts once they have
 * exited). A process may be started ahead of its slot and held at a gate (prepared.ts); the
 * cap counts held processes too (admission.ts). Retries (retry.ts) are decided once, when an
 * attempt ends, and carried on the finished event.
 *
 * Timers owned here: one per Run for its jitter or retry wait, on the injected Clock. The
 * process itself (timeout, SIGTERM -> SIGKILL) is the runner's, started by the injected
 * spawner (spawn-run.ts). Everything that happens to runs is a run event (events/): the
 * history, the log and the last-run view are subscribers. Processes a finished run left in its
 * group are not part of any Run (the job is idle): Leftovers tracks them until the job's
 * timeout or schedd's stop. Nothing here throws at the daemon: a job that cannot start is a Run
 * that ends with outcome 'error'.
 */
import { hostname } from 'node:os';
import type { Account } from '../accounts.js';
import type { Entry } from '../crontab/types.js';
import type { RunEvents, Trigger } from '../events/run-events.js';
import type { Log } from '../log.js';
import { startRun, type RunHandle, type RunResult } from '../runner/index.js';
import type { Clock } from '../schedule/clock.js';
import type { ClaimResult, FinishedRun, RunStore } from '../store/types.js';
import { Admission } from './admission.js';
import { newRunId, stableJitterMs } from './job-env.js';
import { JobRuns } from './job-runs.js';
import { Leftovers } from './leftovers.js';
import { decideOverlap } from './overlap.js';
import { PreparedRuns, type Prepared } from './prepared.js';
import { retryAfter } from './retry.js';
import type { Pending, Run, RunningInfo } from './run.js';
import { RunSpawner, type Spawner } from './spawn-run.js';

export type { RunningInfo } from './run.js';

/** What a run whose claim comes back 'unrecorded' (the history is down) does. */
export type UnrecordedPolicy = 'run-anyway' | 'skip';
/** Jobs keep firing when the history is broken (a failing disk must not stop cron). */
export const DEFAULT_UNRECORDED_POLICY: UnrecordedPolicy = 'run-anyway';

export interface DispatcherOptions {
  log: Log;
  events: RunEvents;
  /** Where a run's slot is claimed, before its process runs. */
  store: Pick<RunStore, 'claim'>;
  clock: Clock;
  /** Starts a run's process: startRun unless a test fakes it. */
  spawner?: Spawner;
  unrecorded?: UnrecordedPolicy;
  killGraceMs: number;
  /** Cap on runs executing at once across all jobs; null for none. */
  maxConcurrent: number | null;
  cleanEnv: boolean;
  /** Where jobs' environment starts (process.env): read once, at the first run. */
  baseEnv: NodeJS.ProcessEnv;
  /** Accounts of the users jobs run as (system crontab or `user=`), resolved by the daemon. */
  accounts: ReadonlyMap<string, Account>;
  /** For the stable jitter of each job; this machine's name unless a test says. */
  host?: string;
}

export interface FireResult {
  status: 'started' | 'skipped' | 'queued' | 'replacing';
  run?: string;
  reason?: string;
}

export class Dispatcher {
  private readonly jobs = new Map<string, JobRuns>();
  private readonly admission: Admission;
  private readonly prepared = new PreparedRuns();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly spawner: RunSpawner;
  private readonly leftovers: Leftovers;
  private readonly events: RunEvents;
  private readonly clock: Clock;
  private readonly host: string;
  private readonly unrecorded: UnrecordedPolicy;
  /** Runs whose claim is pending: they count against the cap when preparing. */
  private claiming = 0;
  private closed = false;

  constructor(private readonly options: DispatcherOptions) {
    const { events, clock } = options;
    this.events = events;
    this.clock = clock;
    this.host = options.host ?? hostname();
    this.unrecorded = options.unrecorded ?? DEFAULT_UNRECORDED_POLICY;
    this.admission = new Admission(options.maxConcurrent);
    this.leftovers = new Leftovers(options.log, options.killGraceMs, clock);
    this.spawner = new RunSpawner({ spawner: options.spawner ?? startRun, events, killGraceMs: options.killGraceMs, cleanEnv: options.cleanEnv, baseEnv: options.baseEnv, accounts: options.accounts });
  }

  /** Kills what finished runs left behind in their groups (see Leftovers). */
  killLeftovers(reason: string): Promise<void> {
    return this.leftovers.killAll(reason);
  }

  /**
   * Starts the process for a slot ahead of time, held at a gate, when the slot is likely to
   * run: not for jittered jobs, nor while an active run means the slot would be skipped.
   */
  prepare(entry: Entry, trigger: Trigger): void {
    this.prepared.drop(entry.id);
    if (this.closed || (entry.options.jitterMs ?? 0) > 0) return;
    const job = this.jobs.get(entry.id);
    if (job !== undefined && decideOverlap(entry.options.overlap ?? 'skip', job.active.size, job.queued !== null).action !== 'start') return;
    // Held processes count against the cap too: it is there to bound how many processes exist.
    if (!this.admission.hasRoom(this.prepared.size + this.claiming)) return;
    const runId = newRunId(this.clock.now());
    this.prepared.hold(entry, trigger.scheduledAt, runId, this.spawner.spawn(entry, runId, trigger.scheduledAt, true));
  }

  /** Drops a held process that will not be used. */
  unprepare(jobId: string): void {
    this.prepared.drop(jobId);
  }

  /** A slot is due (or `schedd run` asked for one): what became of it. */
  fire(entry: Entry, trigger: Trigger): FireResult {
    if (this.closed) return { status: 'skipped', reason: 'schedd is stopping' };
    const prepared = this.prepared.take(entry, trigger.scheduledAt);
    const result = this.fireNow(entry, trigger, prepared);
    if (result.status !== 'started') prepared?.handle.abort();
    return result;
  }

  private fireNow(entry: Entry, trigger: Trigger, prepared: Prepared | null): FireResult {
    const job = this.runtime(entry.id);
    const decision = decideOverlap(entry.options.overlap ?? 'skip', job.active.size, job.queued !== null);
    switch (decision.action) {
      case 'start': {
        const run = this.accept(job, entry, trigger, prepared);
        // A store that answers at once has said already: `schedd run` then hears the truth.
        return run.notRun === undefined ? { status: 'started', run: run.id } : { status: 'skipped', reason: run.notRun };
      }
      case 'skip': {
        const reason = `${decision.why} (overlap=${decision.policy})`;
        this.events.emit({ type: 'notRun', job: entry.id, scheduledAt: trigger.scheduledAt, outcome: 'skipped', reason, cause: { kind: 'overlap', why: decision.why, policy: decision.policy }, recorded: false });
        return { status: 'skipped', reason };
      }
      case 'queue':
        job.queued = { entry, trigger };
        this.events.emit({ type: 'pending', why: 'queued', job: entry.id, trigger });
        return { status: 'queued', reason: 'previous run still active (overlap=queue)' };
      case 'replace':
        job.replacement = { entry, trigger };
        this.events.emit({ type: 'pending', why: 'replacing', job: entry.id, trigger, running: job.active.size });
        for (const run of [...job.active]) this.cancel(run, 'replaced by a newer run');
        return { status: 'replacing', reason: 'the running run is being stopped (overlap=replace)' };
    }
  }

  /** Runs missed slots in order, one after another (catchup). */
  catchUp(entry: Entry, slots: readonly number[]): void {
    if (this.closed || slots.length === 0) return;
    const job = this.runtime(entry.id);
    const [first, ...rest] = slots.map((scheduledAt): Pending => ({ entry, trigger: { kind: 'catch-up', scheduledAt } }));
    job.backlog.push(...rest);
    if (job.active.size === 0) this.accept(job, entry, first!.trigger);
    else job.backlog.unshift(first!);
  }

  /** The job left the crontab: pending runs are dropped, running ones finish (without retries). */
  forget(jobId: string): void {
    const job = this.jobs.get(jobId);
    this.prepared.drop(jobId);
    if (job === undefined) return;
    job.dropPending();
    for (const run of [...job.active]) {
      if (run.handle === null) this.cancel(run, 'job removed from the crontab');
      else run.cancelled = true;
    }
    // Nothing left of a removed job once its runs are over (a renamed job would pile up).
    if (job.active.size === 0) this.jobs.delete(jobId);
    this.events.emit({ type: 'forgotten', job: jobId });
  }

  running(): RunningInfo[] {
    return [...this.admission.executing].map((run) => ({ job: run.entry.id, run: run.id, pid: run.handle?.pid ?? null, startedAt: run.handle?.startedAt ?? 0 }));
  }

  isActive(jobId: string): boolean {
    return (this.jobs.get(jobId)?.active.size ?? 0) > 0;
  }

  /** Stop accepting work and drop everything not yet running (a pending claim included). */
  close(): void {
    this.closed = true;
    this.prepared.dropAll();
    for (const job of this.jobs.values()) {
      job.dropPending();
      for (const run of [...job.active]) if (run.handle === null) this.cancel(run, 'schedd is stopping');
    }
  }

  /** Resolves when no run is executing. */
  idle(): Promise<void> {
    if (this.admission.executing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops every executing run (SIGTERM to its group, SIGKILL after the kill grace). */
  terminateAll(reason: string): void {
    for (const run of this.admission.executing) {
      run.cancelled = true;
      run.interrupted = true;
      run.handle?.stop(reason);
    }
  }

  private runtime(id: string): JobRuns {
    let job = this.jobs.get(id);
    if (job === undefined) {
      job = new JobRuns();
      this.jobs.set(id, job);
    }
    return job;
  }

  private accept(job: JobRuns, entry: Entry, trigger: Trigger, prepared: Prepared | null = null): Run {
    const run: Run = { id: prepared?.runId ?? newRunId(this.clock.now()), entry, trigger, attempt: 1, handle: null, timer: null, cancelled: false, interrupted: false };
    job.active.add(run);
    this.claiming++;
    // Claimed (committed) before the job's process runs: after a crash this slot is known, and
    // never run twice. A local store answers at once and the run goes on now (the first job of
    // a burst is not held behind the claims of the others); a remote one answers later, and a
    // claim that rejects counts as unrecorded.
    const claim = this.options.store.claim(run.id, entry.id, trigger.scheduledAt);
    if (typeof claim === 'string') {
      this.claimed(run, claim, prepared);
    } else {
      claim.then(
        (result) => this.claimed(run, result, prepared),
        () => this.claimed(run, 'unrecorded', prepared),
      );
    }
    return run;
  }

  private claimed(run: Run, claim: ClaimResult, prepared: Prepared | null): void {
    this.claiming--;
    // Cancelled meanwhile (a stop, a forget, a replace): that was reported, and the run retired.
    if (run.cancelled) {
      prepared?.handle.abort();
      return;
    }
    if (claim === 'lost' || (claim === 'unrecorded' && this.unrecorded === 'skip')) {
      prepared?.handle.abort();
      const why = claim === 'lost' ? 'slot already claimed' : 'run history unavailable';
      const reason = claim === 'lost' ? `${why} (by another run)` : `${why} (unrecorded=skip)`;
      run.notRun = reason;
      this.events.emit({ type: 'notRun', job: run.entry.id, scheduledAt: run.trigger.scheduledAt, outcome: 'skipped', reason, cause: { kind: 'claim', why }, recorded: claim === 'lost' });
      this.retire(run);
      return;
    }
    this.events.emit({ type: 'claimed', job: run.entry.id, run: run.id, trigger: run.trigger, claim });
    this.proceed(run, prepared);
  }

  private proceed(run: Run, prepared: Prepared | null): void {
    const { entry } = run;
    if (prepared !== null && this.admission.hasRoom()) {
      this.launch(run, prepared.handle);
      return;
    }
    prepared?.handle.abort();
    const jitterMs = stableJitterMs(entry.id, this.host, entry.options.jitterMs ?? 0);
    if (jitterMs > 0) {
      this.events.emit({ type: 'pending', why: 'jitter', job: entry.id, run: run.id, delayMs: jitterMs });
      this.admitAfter(run, jitterMs);
    } else {
      this.admit(run);
    }
  }

  /** A run waits (jitter, retry backoff), then asks for a place to run. */
  private admitAfter(run: Run, delayMs: number): void {
    run.timer = this.clock.setTimer(() => {
      run.timer = null;
      this.admit(run);
    }, delayMs);
  }

  private admit(run: Run): void {
    if (!this.admission.hasRoom()) {
      this.admission.wait(run);
      this.events.emit({ type: 'pending', why: 'max-concurrent', job: run.entry.id, run: run.id, running: this.admission.executing.size, waiting: this.admission.waitingCount });
      return;
    }
    this.launch(run);
  }

  private launch(run: Run, prepared: RunHandle | null = null): void {
    let handle: RunHandle;
    if (prepared !== null) {
      handle = prepared;
      handle.release();
    } else {
      handle = this.spawner.spawn(run.entry, run.id, run.trigger.scheduledAt, false);
    }
    run.handle = handle;
    this.admission.executing.add(run);
    this.events.emit({ type: 'started', job: run.entry.id, run: run.id, trigger: run.trigger, pid: handle.pid, startedAt: handle.startedAt, attempt: run.attempt });
    void handle.done.then((result) => this.finished(run, result));
  }

  private finished(run: Run, result: RunResult): void {
    this.admission.executing.delete(run);
    run.handle = null;
    const { entry, attempt } = run;
    const record: FinishedRun = {
      outcome: run.interrupted && result.outcome === 'killed' ? 'interrupted' : result.outcome,
      exitCode: result.exitCode,
      signal: result.signal,
      startedAt: result.startedAt,
      finishedAt: result.finishedAt,
      durationMs: result.durationMs,
      attempt,
      ...(result.reason === undefined ? {} : { reason: result.reason }),
      output: result.output,
    };
    // Whether this was the last attempt is decided here, once; every subscriber reads `final`.
    const retry = run.cancelled || this.closed ? null : retryAfter(run.id, attempt, entry.options.retries ?? 0, result);
    const ended = { type: 'finished', job: entry.id, run: run.id, trigger: run.trigger, attempt, result, record } as const;
    this.events.emit(retry === null ? { ...ended, final: true } : { ...ended, final: false, retry });
    if (result.leftBehind !== undefined && result.pid !== null) {
      const timeoutMs = entry.options.timeoutMs;
      this.leftovers.track(entry.id, run.id, result.pid, result.leftBehind, timeoutMs === undefined ? null : timeoutMs - result.durationMs);
    }
    this.pullWaiting();
    if (retry !== null) {
      run.attempt = retry.nextAttempt;
      this.admitAfter(run, retry.delayMs);
    } else {
      this.retire(run);
    }
    if (this.admission.executing.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** A run is over: the job may go idle, which releases a replacing, catch-up or queued slot. */
  private retire(run: Run): void {
    const job = this.runtime(run.entry.id);
    job.active.delete(run);
    if (job.active.size > 0) return;
    const next = job.takeNext();
    if (next !== null && !this.closed) this.accept(job, next.entry, next.trigger);
  }

  private cancel(run: Run, reason: string): void {
    run.cancelled = true;
    if (run.handle !== null) {
      run.handle.stop(reason);
      return;
    }
    if (run.timer !== null) this.clock.clearTimer(run.timer);
    run.timer = null;
    this.admission.remove(run);
    this.events.emit({ type: 'cancelled', job: run.entry.id, run: run.id, trigger: run.trigger, reason });
    this.retire(run);
  }

  private pullWaiting(): void {
    for (let run = this.admission.next(); run !== null; run = this.admission.next()) this.launch(run);
  }
}
