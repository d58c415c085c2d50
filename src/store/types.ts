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
  /** A service's instance (0..N-1); null (or absent) for a job's run. */
  instance?: number | null;
  /** What became of the run's mail (MAILTO); absent when none was due. */
  mail?: MailRecord;
}

/**
 * A run's mail: `sent` (sendmail accepted it), `failed` (sendmail exited non-zero, timed out or
 * could not start), `discarded` (no sendmail), `refused` (an unsafe MAILTO), `dropped` (too
 * many mails waiting). `detail`: the recipients, or why.
 */
export interface MailRecord {
  status: 'sent' | 'failed' | 'discarded' | 'refused' | 'dropped';
  detail: string;
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
 * What a claim of a slot came to. `won`: this call recorded the slot; its job may run. `lost`:
 * the slot was claimed before (by this node or another); running it again would run it twice.
 * `unrecorded`: nothing was recorded, the store is down or its commit failed; whether the job
 * fires anyway is the caller's policy (see SafeStore), not the store's.
 */
export type ClaimResult = 'won' | 'lost' | 'unrecorded';

/**
 * The run history, asynchronous so that a store on a server (PostgreSQL, several nodes) can
 * implement it. Writes issued in order are applied in order. An implementation may fail by
 * throwing at the call or by rejecting: SqliteStore runs its SQL synchronously inside each
 * call, so it throws before it returns and its promises are already settled; SafeStore turns
 * either into its policy and never rejects.
 *
 * "This node" is `node`. A store that several daemons share at once must keep to it where a
 * method says so (recoverInFlight); the single-file store is held by one daemon at a time (the
 * state directory's lock) and reads every node's rows there (see SqliteStore).
 */
export interface RunStore {
  /** Which node this store writes as (recorded on every row it writes). */
  readonly node: string;
  /**
   * On the unique (job, slot) key: 'won' once per slot in the whole store, 'lost' for every
   * later claim of it. Recorded before the job's process runs (committed before it resolves):
   * after a crash, this slot is never run again. A store that can answer at once (the local
   * SQLite file: one INSERT and a commit) returns the result itself, not a promise: the
   * dispatcher then releases each job of a burst right after its own claim, instead of holding
   * the first behind every claim of the burst. A store across a network returns a promise.
   */
  claim(runId: string, job: string, scheduledAt: number): ClaimResult | Promise<ClaimResult>;
  started(runId: string, pid: number | null, startedAt: number, attempt: number): Promise<void>;
  finished(runId: string, run: FinishedRun): Promise<void>;
  /**
   * The attempt just finished (failed) will be retried: its record becomes `attemptId`'s, with
   * `reason`, and `runId` starts afresh for the next attempt (in flight, not started yet). The
   * history then shows every failed attempt, and a crash before the retry leaves the run lost.
   */
  retrying(runId: string, attemptId: string, reason: string): Promise<void>;
  /** What became of the mail of a finished run (its final attempt's row). */
  mailed(runId: string, mail: MailRecord): Promise<void>;
  /** A claimed run that never started its process (cancelled while waiting). */
  cancelled(runId: string, reason: string): Promise<void>;
  /** A slot that did not run: skipped (overlap, clock) or missed (schedd was down). */
  notRun(job: string, scheduledAt: number, outcome: 'skipped' | 'missed', reason: string): Promise<void>;
  /** A service instance started: a row in flight until finished() or serviceLost(). */
  serviceStarted(runId: string, job: string, instance: number, pid: number | null, startedAt: number): Promise<void>;
  /** Service instances recorded as running (this node's): the scheduler that started them died. */
  servicesInFlight(): Promise<RunRecord[]>;
  /** A service instance whose end cannot be known (gone while no scheduler watched it). */
  serviceLost(runId: string, reason: string, at: number): Promise<void>;
  /**
   * Job runs (not service instances) this node left in flight (it died): marked lost with `reason(run)`, and returned as
   * they were. A shared store must take only this node's; the single-file store takes all.
   */
  recoverInFlight(reason: (run: RunRecord) => string): Promise<RunRecord[]>;
  /** The latest slot recorded per job, whatever became of it. */
  lastSlots(): Promise<Map<string, number>>;
  /** This node was alive and firing at `at`. */
  heartbeat(at: number): Promise<void>;
  /** The last heartbeat (the single-file store: of any node, see SqliteStore). */
  lastHeartbeat(): Promise<number | null>;
  /** The crontab the daemon writing this history runs. */
  setCrontab(path: string): Promise<void>;
  crontab(): Promise<string | null>;
  history(job: string | undefined, limit: number): Promise<RunRecord[]>;
  output(job: string, runId?: string): Promise<{ run: RunRecord; output: RunOutput } | null>;
  lastRuns(): Promise<Map<string, RunRecord>>;
  /** The latest runs that ran and did not succeed (or were lost), newest first, for `status`. */
  recentFailures(limit: number): Promise<RunRecord[]>;
  close(): Promise<void>;
}
