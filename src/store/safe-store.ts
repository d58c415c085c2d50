import type { Log } from '../log.js';
import { defaultNode } from './sqlite-store.js';
import type { ClaimResult, FinishedRun, MailRecord, RunOutput, RunRecord, RunStore } from './types.js';

/**
 * A store that never stops jobs from firing: every call is guarded and no promise of it
 * rejects. When the database fails (damaged, unwritable, disk full) the error is logged (once a
 * minute at most, with what was not recorded), writes are dropped and reads come back empty,
 * and the store is reopened on the next call after RETRY_MS, so it recovers by itself when the
 * fault clears.
 *
 * The policy is "record or not, keep firing": a history that cannot be written must not stop
 * the jobs it would have recorded. So a claim the store could not record resolves `unrecorded`
 * (never `lost`, never a rejection), and what to do with it is the dispatcher's named option
 * (today, and by default: fire the job, unrecorded). On one node that is the safe choice: a
 * missing record costs a line of history. Where several nodes share a store, an unrecorded
 * claim may also be run by another node; a cluster may choose to skip instead.
 *
 * The inner store's call is made synchronously (SqliteStore does its SQL there): a failure it
 * throws is handled before this returns, so the writes after it in the same turn are dropped,
 * as before the interface was asynchronous. A store that rejects instead (a server) fails the
 * same way, a turn later.
 */

const RETRY_MS = 30_000;
const REPORT_MS = 60_000;

export class SafeStore implements RunStore {
  private store: RunStore | null = null;
  private failedAt = 0;
  private reportedAt = 0;
  private dropped = 0;
  /** Writes accepted since the last commit we know of: lost too if that commit fails. */
  private uncommitted = 0;
  /** Reopened after a failure; "available again" is said after the first write that works. */
  private recovering = false;

  /** The node of the last store opened (before any: the default a SqliteStore takes too). */
  private lastNode = defaultNode();

  constructor(
    private readonly open: () => RunStore,
    private readonly log: Log,
    private readonly now: () => number = Date.now,
  ) {}

  get node(): string {
    return this.store?.node ?? this.lastNode;
  }

  get healthy(): boolean {
    return this.store !== null;
  }

  private current(): RunStore | null {
    if (this.store !== null) return this.store;
    if (this.failedAt !== 0 && this.now() - this.failedAt < RETRY_MS) return null;
    try {
      this.store = this.open();
      this.lastNode = this.store.node;
      const opened = this.store as RunStore & { onError?: (error: unknown, lostWrites?: number) => void; onCommit?: () => void };
      this.uncommitted = 0;
      if ('onError' in opened) {
        opened.onError = (error, lostWrites) => {
          this.dropped += lostWrites ?? this.uncommitted;
          this.uncommitted = 0;
          this.fail(error, 'commit');
        };
      }
      if ('onCommit' in opened) opened.onCommit = () => (this.uncommitted = 0);
      if (this.failedAt !== 0) this.recovering = true;
      this.failedAt = 0;
    } catch (error) {
      this.fail(error, 'open');
    }
    return this.store;
  }

  private fail(error: unknown, what: string): void {
    this.failedAt = this.now();
    if (this.store !== null) closeQuietly(this.store);
    this.store = null;
    if (this.now() - this.reportedAt >= REPORT_MS) {
      this.reportedAt = this.now();
      this.log.error({ err: error, reason: what }, `run history unavailable (${(error as Error).message}); jobs keep running, retrying in ${RETRY_MS / 1000} s`);
    }
  }

  /** Done (or dropped) inside the call, as far as a synchronous store goes; never rejects. */
  private write(what: string, action: (store: RunStore) => Promise<unknown>): Promise<void> {
    const store = this.current();
    if (store === null) {
      this.dropped++;
      return DONE;
    }
    let pending: Promise<unknown>;
    try {
      pending = action(store);
    } catch (error) {
      this.dropped++;
      this.fail(error, what);
      return DONE;
    }
    this.accepted();
    return pending.then(
      () => undefined,
      (error: unknown) => this.lateFailure(store, error, what),
    );
  }

  private accepted(): void {
    this.uncommitted++;
    if (this.recovering) {
      this.recovering = false;
      this.log.warn({ count: this.dropped }, `run history available again (${this.dropped} records were not written meanwhile)`);
      this.dropped = 0;
    }
  }

  /** A store that rejects (rather than throwing at the call): the write is lost, the store failed. */
  private lateFailure(store: RunStore, error: unknown, what: string): void {
    this.dropped++;
    if (this.store === store) this.fail(error, what);
  }

  private read<T>(what: string, action: (store: RunStore) => Promise<T>, fallback: T): Promise<T> {
    const store = this.current();
    if (store === null) return Promise.resolve(fallback);
    try {
      return action(store).then(
        (value) => value,
        (error: unknown) => {
          if (this.store === store) this.fail(error, what);
          return fallback;
        },
      );
    } catch (error) {
      this.fail(error, what);
      return Promise.resolve(fallback);
    }
  }

  /**
   * `unrecorded` when the store is down or the claim failed (then counted with the dropped
   * writes): the "record or not, keep firing" policy above decides what the caller does.
   */
  claim(runId: string, job: string, scheduledAt: number): ClaimResult | Promise<ClaimResult> {
    const store = this.current();
    if (store === null) {
      this.dropped++;
      return 'unrecorded';
    }
    let pending: ClaimResult | Promise<ClaimResult>;
    try {
      pending = store.claim(runId, job, scheduledAt);
    } catch (error) {
      this.dropped++;
      this.fail(error, 'claim');
      return 'unrecorded';
    }
    this.accepted();
    // An answer at once stays one (see RunStore.claim): no microtask between claim and release.
    if (typeof pending === 'string') return pending;
    return pending.then(
      (result) => result,
      (error: unknown) => {
        this.lateFailure(store, error, 'claim');
        return 'unrecorded' as const;
      },
    );
  }
  started(runId: string, pid: number | null, startedAt: number, attempt: number): Promise<void> {
    return this.write('started', (s) => s.started(runId, pid, startedAt, attempt));
  }
  retrying(runId: string, attemptId: string, reason: string): Promise<void> {
    return this.write('retrying', (s) => s.retrying(runId, attemptId, reason));
  }

  finished(runId: string, run: FinishedRun): Promise<void> {
    return this.write('finished', (s) => s.finished(runId, run));
  }
  mailed(runId: string, mail: MailRecord): Promise<void> {
    return this.write('mail', (s) => s.mailed(runId, mail));
  }
  cancelled(runId: string, reason: string): Promise<void> {
    return this.write('cancelled', (s) => s.cancelled(runId, reason));
  }
  notRun(job: string, scheduledAt: number, outcome: 'skipped' | 'missed', reason: string): Promise<void> {
    return this.write(outcome, (s) => s.notRun(job, scheduledAt, outcome, reason));
  }
  serviceStarted(runId: string, job: string, instance: number, pid: number | null, startedAt: number): Promise<void> {
    return this.write('service started', (s) => s.serviceStarted(runId, job, instance, pid, startedAt));
  }
  servicesInFlight(): Promise<RunRecord[]> {
    return this.read('services in flight', (s) => s.servicesInFlight(), []);
  }
  serviceLost(runId: string, reason: string, at: number): Promise<void> {
    return this.write('service lost', (s) => s.serviceLost(runId, reason, at));
  }
  recoverInFlight(reason: (run: RunRecord) => string): Promise<RunRecord[]> {
    return this.read('lost runs', (s) => s.recoverInFlight(reason), []);
  }
  lastSlots(): Promise<Map<string, number>> {
    return this.read('last slots', (s) => s.lastSlots(), new Map<string, number>());
  }
  heartbeat(at: number): Promise<void> {
    return this.write('heartbeat', (s) => s.heartbeat(at));
  }
  setCrontab(path: string): Promise<void> {
    return this.write('crontab', (s) => s.setCrontab(path));
  }
  crontab(): Promise<string | null> {
    return this.read('crontab', (s) => s.crontab(), null);
  }
  lastHeartbeat(): Promise<number | null> {
    return this.read('heartbeat', (s) => s.lastHeartbeat(), null);
  }
  history(job: string | undefined, limit: number): Promise<RunRecord[]> {
    return this.read('history', (s) => s.history(job, limit), []);
  }
  output(job: string, runId?: string): Promise<{ run: RunRecord; output: RunOutput } | null> {
    return this.read('output', (s) => s.output(job, runId), null);
  }
  lastRuns(): Promise<Map<string, RunRecord>> {
    return this.read('last runs', (s) => s.lastRuns(), new Map<string, RunRecord>());
  }
  recentFailures(limit: number): Promise<RunRecord[]> {
    return this.read('failures', (s) => s.recentFailures(limit), []);
  }
  close(): Promise<void> {
    if (this.store !== null) closeQuietly(this.store);
    this.store = null;
    return DONE;
  }
}

const DONE: Promise<void> = Promise.resolve();

/** Closing a broken store may throw or reject: it is being dropped either way. */
function closeQuietly(store: RunStore): void {
  try {
    store.close().catch(() => undefined);
  } catch {
    // already broken
  }
}
