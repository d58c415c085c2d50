import type { Log } from '../log.js';
import type { FinishedRun, RunOutput, RunRecord, SyncRunStore } from './types.js';

/**
 * A store that never stops jobs from firing: every call is guarded. When the database fails
 * (damaged, unwritable, disk full) the error is logged (once a minute at most, with what was
 * not recorded), writes are dropped and reads come back empty, and the store is reopened on the
 * next call after RETRY_MS, so it recovers by itself when the fault clears.
 */

const RETRY_MS = 30_000;
const REPORT_MS = 60_000;

export class SafeStore implements SyncRunStore {
  private store: SyncRunStore | null = null;
  private failedAt = 0;
  private reportedAt = 0;
  private dropped = 0;
  /** Writes accepted since the last commit we know of: lost too if that commit fails. */
  private uncommitted = 0;
  /** Reopened after a failure; "available again" is said after the first write that works. */
  private recovering = false;

  constructor(
    private readonly open: () => SyncRunStore,
    private readonly log: Log,
    private readonly now: () => number = Date.now,
  ) {}

  get healthy(): boolean {
    return this.store !== null;
  }

  private current(): SyncRunStore | null {
    if (this.store !== null) return this.store;
    if (this.failedAt !== 0 && this.now() - this.failedAt < RETRY_MS) return null;
    try {
      this.store = this.open();
      const opened = this.store as SyncRunStore & { onError?: (error: unknown, lostWrites?: number) => void; onCommit?: () => void };
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
    try {
      this.store?.close();
    } catch {
      // already broken
    }
    this.store = null;
    if (this.now() - this.reportedAt >= REPORT_MS) {
      this.reportedAt = this.now();
      this.log.error({ err: error, reason: what }, `run history unavailable (${(error as Error).message}); jobs keep running, retrying in ${RETRY_MS / 1000} s`);
    }
  }

  private write(what: string, action: (store: SyncRunStore) => void): void {
    const store = this.current();
    if (store === null) {
      this.dropped++;
      return;
    }
    try {
      action(store);
      this.uncommitted++;
      if (this.recovering) {
        this.recovering = false;
        this.log.warn({ count: this.dropped }, `run history available again (${this.dropped} records were not written meanwhile)`);
        this.dropped = 0;
      }
    } catch (error) {
      this.dropped++;
      this.fail(error, what);
    }
  }

  private read<T>(what: string, action: (store: SyncRunStore) => T, fallback: T): T {
    const store = this.current();
    if (store === null) return fallback;
    try {
      return action(store);
    } catch (error) {
      this.fail(error, what);
      return fallback;
    }
  }

  claim(runId: string, job: string, scheduledAt: number): void {
    this.write('claim', (s) => s.claim(runId, job, scheduledAt));
  }
  started(runId: string, pid: number | null, startedAt: number, attempt: number): void {
    this.write('started', (s) => s.started(runId, pid, startedAt, attempt));
  }
  retrying(runId: string, attemptId: string, reason: string): void {
    this.write('retrying', (s) => s.retrying(runId, attemptId, reason));
  }

  finished(runId: string, run: FinishedRun): void {
    this.write('finished', (s) => s.finished(runId, run));
  }
  cancelled(runId: string, reason: string): void {
    this.write('cancelled', (s) => s.cancelled(runId, reason));
  }
  notRun(job: string, scheduledAt: number, outcome: 'skipped' | 'missed', reason: string): void {
    this.write(outcome, (s) => s.notRun(job, scheduledAt, outcome, reason));
  }
  takeInFlight(reason: (run: RunRecord) => string): RunRecord[] {
    return this.read('lost runs', (s) => s.takeInFlight(reason), []);
  }
  lastSlots(): Map<string, number> {
    return this.read('last slots', (s) => s.lastSlots(), new Map());
  }
  heartbeat(at: number): void {
    this.write('heartbeat', (s) => s.heartbeat(at));
  }
  setCrontab(path: string): void {
    this.write('crontab', (s) => s.setCrontab(path));
  }
  crontab(): string | null {
    return this.read('crontab', (s) => s.crontab(), null);
  }
  lastHeartbeat(): number | null {
    return this.read('heartbeat', (s) => s.lastHeartbeat(), null);
  }
  history(job: string | undefined, limit: number): RunRecord[] {
    return this.read('history', (s) => s.history(job, limit), []);
  }
  output(job: string, runId?: string): { run: RunRecord; output: RunOutput } | null {
    return this.read('output', (s) => s.output(job, runId), null);
  }
  lastRuns(): Map<string, RunRecord> {
    return this.read('last runs', (s) => s.lastRuns(), new Map());
  }
  close(): void {
    try {
      this.store?.close();
    } catch {
      // closing a broken store
    }
    this.store = null;
  }
}
