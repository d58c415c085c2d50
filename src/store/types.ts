/** What the daemon records about runs. A PostgreSQL store can implement the same interface. */

export type RecordedOutcome = 'running' | 'ok' | 'failed' | 'timeout' | 'killed' | 'error' | 'skipped' | 'missed' | 'lost' | 'interrupted';

export interface RunRecord {
  runId: string;
  job: string;
  /** The slot (ISO-8601 UTC). */
  scheduledAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  outcome: RecordedOutcome;
  exitCode: number | null;
  signal: string | null;
  durationMs: number | null;
  /** Why a run was skipped, missed, lost or interrupted, or why it could not start. */
  reason: string | null;
  pid: number | null;
  attempt: number;
}

export interface RunOutput {
  head: string;
  tail: string;
  bytes: number;
  truncated: boolean;
}

export interface FinishedRun {
  outcome: Exclude<RecordedOutcome, 'running' | 'skipped' | 'missed' | 'lost'>;
  exitCode: number | null;
  signal: string | null;
  startedAt: number;
  finishedAt: number;
  durationMs: number;
  attempt: number;
  reason?: string;
  output: RunOutput;
}

/**
 * The synchronous store of today (SqliteStore, SafeStore). Part of the move to the async
 * RunStore below: the async one is what dispatch and events code against.
 */
export interface SyncRunStore {
  /** Recorded before the job's process runs: after a crash, this slot is never run again. */
  claim(runId: string, job: string, scheduledAt: number): void;
  started(runId: string, pid: number | null, startedAt: number, attempt: number): void;
  finished(runId: string, run: FinishedRun): void;
  /**
   * The attempt just finished (failed) will be retried: its record becomes `attemptId`'s, with
   * `reason`, and `runId` starts afresh for the next attempt (in flight, not started yet). The
   * history then shows every failed attempt, and a crash before the retry leaves the run lost.
   */
  retrying(runId: string, attemptId: string, reason: string): void;
  /** A claimed run that never started its process (cancelled while waiting). */
  cancelled(runId: string, reason: string): void;
  /** A slot that did not run: skipped (overlap, clock) or missed (schedd was down). */
  notRun(job: string, scheduledAt: number, outcome: 'skipped' | 'missed', reason: string): void;
  /** Runs a previous daemon left in flight (it died): marked lost, with the reason. */
  takeInFlight(reason: (run: RunRecord) => string): RunRecord[];
  /** The latest slot recorded per job, whatever became of it. */
  lastSlots(): Map<string, number>;
  heartbeat(at: number): void;
  /** The crontab the daemon writing this history runs. */
  setCrontab(path: string): void;
  crontab(): string | null;
  lastHeartbeat(): number | null;
  history(job: string | undefined, limit: number): RunRecord[];
  output(job: string, runId?: string): { run: RunRecord; output: RunOutput } | null;
  lastRuns(): Map<string, RunRecord>;
  close(): void;
}

export type ClaimResult = 'won' | 'lost' | 'unrecorded';

/** The store as dispatch and the run events see it (async; see store/async-store.ts for now). */
export interface RunStore {
  readonly node: string;
  claim(runId: string, job: string, scheduledAt: number): Promise<ClaimResult>;
  started(runId: string, pid: number | null, startedAt: number, attempt: number): Promise<void>;
  finished(runId: string, run: FinishedRun): Promise<void>;
  retrying(runId: string, attemptId: string, reason: string): Promise<void>;
  cancelled(runId: string, reason: string): Promise<void>;
  notRun(job: string, scheduledAt: number, outcome: 'skipped' | 'missed', reason: string): Promise<void>;
  recoverInFlight(reason: (run: RunRecord) => string): Promise<RunRecord[]>;
  lastSlots(): Promise<Map<string, number>>;
  heartbeat(at: number): Promise<void>;
  lastHeartbeat(): Promise<number | null>;
  setCrontab(path: string): Promise<void>;
  crontab(): Promise<string | null>;
  history(job: string | undefined, limit: number): Promise<RunRecord[]>;
  output(job: string, runId?: string): Promise<{ run: RunRecord; output: RunOutput } | null>;
  lastRuns(): Promise<Map<string, RunRecord>>;
  recentFailures(limit: number): Promise<RunRecord[]>;
  close(): Promise<void>;
}
