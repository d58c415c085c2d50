import { randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync } from 'node:fs';
import { hostname } from 'node:os';
import Database from 'better-sqlite3';
import { createStateFile, openStateFile } from '../state-file.js';
import { MIGRATIONS } from './schema.js';
import type { ClaimResult, FinishedRun, MailRecord, RecordedOutcome, RunOutput, RunRecord, RunStore } from './types.js';

/**
 * Run history in one SQLite file (WAL). Writes are small single-row statements: with WAL and
 * synchronous=NORMAL a commit is a write to the OS, not an fsync, so recording a slot before its
 * job starts costs tens of microseconds, and a kill -9 of schedd loses nothing that was
 * committed (a power cut may lose the last moments; the slot is then at worst run again).
 *
 * The file stays bounded: each job keeps its newest `keepRuns` records (and none older than
 * `keepDays`, if set), pruned as it goes, and each record keeps at most OUTPUT_BYTES of head
 * and of tail of the run's output. SQLite reuses the pages pruning frees.
 *
 * The interface is asynchronous; here the SQL still runs synchronously inside each call, which
 * returns a settled promise (a failure throws at the call). So the order of writes and the one
 * transaction per turn of the event loop are what they were, and a claim is committed before
 * its call returns.
 *
 * Nodes: every row written carries this store's `node` (rows from before schema 3 have none).
 * Only one daemon holds this file at a time (the state directory's lock), and the node id of
 * the same daemon may change from one start to the next (a container's hostname), so this
 * store reads across nodes where the interface says "this node's": recoverInFlight takes every
 * run left in flight, and lastHeartbeat is the latest of any node's. A store shared by several
 * daemons at once (PostgreSQL) must filter by node there.
 */

export const DEFAULT_KEEP_RUNS = 100;
const OUTPUT_BYTES = 16 * 1024;
/** Prune a job's old records after this many new ones, not on every write. */
const PRUNE_EVERY = 20;

export interface StoreOptions {
  keepRuns?: number;
  keepDays?: number;
  /** For the CLI's reads (history, output, list): never creates or changes the file. */
  readonly?: boolean;
  /** The node id written on the rows and heartbeats (default: the host name). */
  node?: string;
}

/** The node id a store writes as when none is given. */
export const defaultNode = (): string => hostname();

/** Settled at once: the write was done inside the call. Shared, not made per call. */
const DONE: Promise<void> = Promise.resolve();

interface Row {
  run_id: string;
  job: string;
  scheduled_at: number;
  started_at: number | null;
  finished_at: number | null;
  outcome: RecordedOutcome;
  exit_code: number | null;
  signal: string | null;
  duration_ms: number | null;
  reason: string | null;
  pid: number | null;
  attempt: number;
  /** Absent in a file from before schema 4 (read-only). */
  instance?: number | null;
  /** Absent in a file from before schema 5 (read-only). */
  mail_status?: MailRecord['status'] | null;
  mail_detail?: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function toRecord(row: Row): RunRecord {
  return {
    runId: row.run_id,
    job: row.job,
    scheduledAt: iso(row.scheduled_at)!,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    outcome: row.outcome,
    exitCode: row.exit_code,
    signal: row.signal,
    durationMs: row.duration_ms,
    reason: row.reason,
    pid: row.pid,
    attempt: row.attempt,
    // Only a service's rows have it: a job's record reads as it did before services.
    ...(row.instance === null || row.instance === undefined ? {} : { instance: row.instance }),
    ...(row.mail_status === null || row.mail_status === undefined ? {} : { mail: { status: row.mail_status, detail: row.mail_detail ?? '' } }),
  };
}

/** At most `bytes` of UTF-8 from the start (or the end) of a string, cut between characters. */
function clip(text: string, bytes: number, fromEnd: boolean): { text: string; clipped: boolean } {
  const buffer = Buffer.from(text, 'utf8');
  if (buffer.length <= bytes) return { text, clipped: false };
  const isContinuation = (i: number): boolean => i < buffer.length && (buffer[i]! & 0xc0) === 0x80;
  if (fromEnd) {
    let start = buffer.length - bytes;
    while (isContinuation(start)) start++;
    return { text: buffer.subarray(start).toString('utf8'), clipped: true };
  }
  let end = bytes;
  while (end > 0 && isContinuation(end)) end--;
  return { text: buffer.subarray(0, end).toString('utf8'), clipped: true };
}

/** Mode of the history file (and so of its -wal and -shm, which SQLite gives the same mode). */
const HISTORY_MODE = 0o640;

/**
 * SQLite opens its file by path and follows links. So the file is made first, O_EXCL and
 * O_NOFOLLOW with its mode fixed on the descriptor (the umask does not decide it), or an existing
 * one is checked (a regular file, one link, the directory owner's); then SQLite opens what was
 * checked. The directory is the daemon's own, mode 0700: nobody else can swap the file after.
 */
function checkFile(path: string, readonly: boolean): void {
  // A directory in its place cannot be written through; SQLite's own error says what is wrong.
  if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory() === true) return;
  const fd = readonly ? openStateFile(path, constants.O_RDONLY) : (createStateFile(path, HISTORY_MODE) ?? openStateFile(path, constants.O_RDONLY));
  if (fd !== null) closeSync(fd);
}

export class SqliteStore implements RunStore {
  /** Called when a batch fails to commit (the microtask has no caller to throw to). */
  onError: (error: unknown, lostWrites: number) => void = () => undefined;
  onCommit: () => void = () => undefined;
  private pendingWrites = 0;
  private readonly db: Database.Database;
  private batchOpen = false;
  private readonly keepRuns: number;
  private readonly keepDays: number | undefined;
  private readonly writesSincePrune = new Map<string, number>();
  private readonly statements;
  /** Null for an older file opened read-only (not migrated): it cannot be written anyway. */
  private readonly writeStatements;
  /** Other nodes' heartbeats are tidied at this store's first heartbeat. */
  private heartbeats = 0;
  readonly node: string;

  constructor(path: string, options: StoreOptions = {}) {
    this.node = options.node ?? defaultNode();
    this.keepRuns = options.keepRuns ?? DEFAULT_KEEP_RUNS;
    this.keepDays = options.keepDays;
    checkFile(path, options.readonly === true);
    this.db = new Database(path, options.readonly ? { readonly: true, fileMustExist: true } : {});
    try {
      this.db.pragma('busy_timeout = 1000');
      if (!options.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL');
        this.migrate();
      }
    } catch (error) {
      // A refused file (damaged, from a newer schedd) is not left open.
      this.db.close();
      throw error;
    }
    const db = this.db;
    const current = (db.pragma('user_version', { simple: true }) as number) >= MIGRATIONS.length;
    this.writeStatements = current ? this.prepareWrites() : null;
    this.statements = {
      lastSlots: db.prepare(`SELECT job, MAX(scheduled_at) AS at FROM runs GROUP BY job`),
      // The per-node heartbeats and the one row of a file from before schema 3, until tidied.
      lastHeartbeat: current
        ? db.prepare(`SELECT MAX(at) AS value FROM (SELECT at FROM heartbeats UNION ALL SELECT value AS at FROM daemon WHERE key = 'heartbeat')`)
        : db.prepare(`SELECT value FROM daemon WHERE key = 'heartbeat'`),
      historyAll: db.prepare(`SELECT * FROM runs ORDER BY scheduled_at DESC, rowid DESC LIMIT ?`),
      historyJob: db.prepare(`SELECT * FROM runs WHERE job = ? ORDER BY scheduled_at DESC, rowid DESC LIMIT ?`),
      outputLatest: db.prepare(
        `SELECT * FROM runs WHERE job = ? AND output_bytes IS NOT NULL ORDER BY scheduled_at DESC, rowid DESC LIMIT 1`,
      ),
      outputRun: db.prepare(`SELECT * FROM runs WHERE job = ? AND run_id = ?`),
      jobOf: db.prepare(`SELECT job FROM runs WHERE run_id = ?`),
      lastRuns: db.prepare(
        `SELECT r.* FROM runs r JOIN (SELECT job, MAX(finished_at) AS f FROM runs WHERE finished_at IS NOT NULL AND outcome NOT IN ('skipped', 'missed') GROUP BY job) l
           ON r.job = l.job AND r.finished_at = l.f`,
      ),
    };
  }

  private prepareWrites() {
    const db = this.db;
    return {
      inFlight: db.prepare(`SELECT * FROM runs WHERE outcome = 'running' AND instance IS NULL`),
      servicesInFlight: db.prepare(`SELECT * FROM runs WHERE outcome = 'running' AND instance IS NOT NULL AND node IS ?`),
      serviceStarted: db.prepare(`INSERT INTO runs (run_id, job, scheduled_at, started_at, outcome, pid, node, instance) VALUES (?, ?, ?, ?, 'running', ?, ?, ?)`),
      // Nothing is written when the slot (job, scheduled_at, claimed) or the run id is taken.
      claim: db.prepare(`INSERT INTO runs (run_id, job, scheduled_at, outcome, node, claimed) VALUES (?, ?, ?, 'running', ?, 1) ON CONFLICT DO NOTHING`),
      // A retry runs again: the row is in flight again (a crash now makes it lost, not failed).
      started: db.prepare(`UPDATE runs SET pid = ?, started_at = ?, attempt = ?, outcome = 'running', finished_at = NULL WHERE run_id = ?`),
      finished: db.prepare(
        `UPDATE runs SET outcome = ?, exit_code = ?, signal = ?, started_at = ?, finished_at = ?, duration_ms = ?, attempt = ?, reason = ?,
           output_head = ?, output_tail = ?, output_bytes = ?, output_truncated = ? WHERE run_id = ?`,
      ),
      mailed: db.prepare(`UPDATE runs SET mail_status = ?, mail_detail = ? WHERE run_id = ?`),
      // Only a run still in flight (a run waiting to retry is: see retrying).
      cancelled: db.prepare(`UPDATE runs SET outcome = 'interrupted', reason = ?, finished_at = ? WHERE run_id = ? AND outcome = 'running'`),
      // The failed attempt hands its slot to the next one (the run's row from now on).
      retiredAttempt: db.prepare(`UPDATE runs SET run_id = ?, reason = ?, claimed = NULL WHERE run_id = ?`),
      // A new row (a later rowid): the next attempt lists above the failed ones, newest first.
      nextAttempt: db.prepare(`INSERT INTO runs (run_id, job, scheduled_at, outcome, attempt, node, claimed) SELECT ?, job, scheduled_at, 'running', attempt + 1, ?, 1 FROM runs WHERE run_id = ?`),
      notRun: db.prepare(`INSERT INTO runs (run_id, job, scheduled_at, outcome, reason, node) VALUES (?, ?, ?, ?, ?, ?)`),
      // Only a row still in flight: a run's end, once recorded, is never rewritten as lost.
      lost: db.prepare(`UPDATE runs SET outcome = 'lost', reason = ?, finished_at = ? WHERE run_id = ? AND outcome = 'running'`),
      heartbeat: db.prepare(`INSERT INTO heartbeats (node, at) VALUES (?, ?) ON CONFLICT (node) DO UPDATE SET at = excluded.at`),
      // Another node id's heartbeat no later than this one's changes no lastHeartbeat: dropped,
      // so that the file does not keep one per hostname it has ever seen.
      tidyHeartbeats: db.prepare(`DELETE FROM heartbeats WHERE node <> ? AND at <= ?`),
      tidyOldHeartbeat: db.prepare(`DELETE FROM daemon WHERE key = 'heartbeat' AND value <= ?`),
      prune: db.prepare(
        `DELETE FROM runs WHERE job = ? AND outcome <> 'running' AND rowid NOT IN (SELECT rowid FROM runs WHERE job = ? ORDER BY scheduled_at DESC, rowid DESC LIMIT ?)`,
      ),
      pruneOld: db.prepare(`DELETE FROM runs WHERE job = ? AND outcome <> 'running' AND scheduled_at < ?`),
    };
  }

  /** A file from before schema 3 is opened read-only only; a write to it fails as SQLite's would. */
  private get writes(): NonNullable<SqliteStore['writeStatements']> {
    if (this.writeStatements === null) throw new Error('attempt to write a readonly database');
    return this.writeStatements;
  }

  /**
   * Writes made in one turn of the event loop share one transaction, committed in a microtask
   * at the end of that turn: the records of 1,000 jobs finishing together cost one commit, not
   * 1,000. A claim commits at once, since its job starts right after it.
   */
  private batch(): void {
    this.pendingWrites++;
    if (this.batchOpen) return;
    this.db.exec('BEGIN');
    this.batchOpen = true;
    queueMicrotask(() => this.commit());
  }

  /** False when the commit failed (reported through onError, rolled back). */
  commit(): boolean {
    if (!this.batchOpen) return true;
    this.batchOpen = false;
    const writes = this.pendingWrites;
    this.pendingWrites = 0;
    try {
      this.db.exec('COMMIT');
      this.onCommit();
      return true;
    } catch (error) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // nothing to roll back
      }
      this.onError(error, writes);
      return false;
    }
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) throw new Error(`the run history was written by a newer schedd (schema ${version}, this one knows ${MIGRATIONS.length})`);
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /**
   * Committed at once, with whatever else is pending: the job starts right after this. The one
   * INSERT of the run's row decides, on the unique (job, slot) key: a slot claimed before (by
   * any node) writes nothing and loses; so does a run id already recorded (a claim made twice).
   */
  claim(runId: string, job: string, scheduledAt: number): ClaimResult {
    const writes = this.writes;
    this.batch();
    const won = writes.claim.run(runId, job, scheduledAt, this.node).changes === 1;
    const committed = this.commit();
    return committed ? (won ? 'won' : 'lost') : 'unrecorded';
  }

  started(runId: string, pid: number | null, startedAt: number, attempt: number): Promise<void> {
    const writes = this.writes;
    this.batch();
    writes.started.run(pid, startedAt, attempt, runId);
    return DONE;
  }

  finished(runId: string, run: FinishedRun): Promise<void> {
    const writes = this.writes;
    this.batch();
    const { output } = run;
    // All of it may be in the runner's (larger) head, with no tail: the end still matters most,
    // so the tail is then taken from the end of that head (the two may overlap).
    const head = clip(output.head, OUTPUT_BYTES, false);
    const fromHead = output.tail === '' && head.clipped;
    const tail = clip(fromHead ? output.head : output.tail, OUTPUT_BYTES, true);
    const keptAll = fromHead ? Buffer.byteLength(head.text) + Buffer.byteLength(tail.text) >= output.bytes : !head.clipped && !tail.clipped;
    const truncated = output.truncated || !keptAll;
    writes.finished.run(run.outcome, run.exitCode, run.signal, run.startedAt, run.finishedAt, Math.round(run.durationMs), run.attempt, run.reason ?? null, head.text, tail.text, output.bytes, truncated ? 1 : 0, runId);
    const row = this.statements.jobOf.get(runId) as { job: string } | undefined;
    if (row !== undefined) this.maybePrune(row.job);
    return DONE;
  }

  retrying(runId: string, attemptId: string, reason: string): Promise<void> {
    const writes = this.writes;
    this.batch();
    writes.retiredAttempt.run(attemptId, reason, runId);
    writes.nextAttempt.run(runId, this.node, attemptId);
    return DONE;
  }

  mailed(runId: string, mail: MailRecord): Promise<void> {
    const writes = this.writes;
    this.batch();
    writes.mailed.run(mail.status, mail.detail, runId);
    return DONE;
  }

  cancelled(runId: string, reason: string): Promise<void> {
    const writes = this.writes;
    this.batch();
    writes.cancelled.run(reason, Date.now(), runId);
    return DONE;
  }

  notRun(job: string, scheduledAt: number, outcome: 'skipped' | 'missed', reason: string): Promise<void> {
    const writes = this.writes;
    this.batch();
    writes.notRun.run(`${outcome[0]}${scheduledAt.toString(36)}${randomBytes(3).toString('hex')}`, job, scheduledAt, outcome, reason, this.node);
    this.maybePrune(job);
    return DONE;
  }

  private maybePrune(job: string): void {
    const count = (this.writesSincePrune.get(job) ?? 0) + 1;
    if (count < PRUNE_EVERY) {
      this.writesSincePrune.set(job, count);
      return;
    }
    this.writesSincePrune.set(job, 0);
    const { prune, pruneOld } = this.writes;
    prune.run(job, job, this.keepRuns);
    if (this.keepDays !== undefined) pruneOld.run(job, Date.now() - this.keepDays * 86_400_000);
  }

  /** Every run left in flight, whichever node wrote it: one daemon holds this file (see above). */
  recoverInFlight(reason: (run: RunRecord) => string): Promise<RunRecord[]> {
    const writes = this.writes;
    this.commit();
    const rows = (writes.inFlight.all() as Row[]).map(toRecord);
    const now = Date.now();
    this.db.transaction(() => {
      for (const run of rows) writes.lost.run(reason(run), now, run.runId);
    })();
    return Promise.resolve(rows);
  }

  serviceStarted(runId: string, job: string, instance: number, pid: number | null, startedAt: number): Promise<void> {
    const writes = this.writes;
    this.batch();
    writes.serviceStarted.run(runId, job, startedAt, startedAt, pid, this.node, instance);
    return DONE;
  }

  servicesInFlight(): Promise<RunRecord[]> {
    const writes = this.writes;
    this.commit();
    return Promise.resolve((writes.servicesInFlight.all(this.node) as Row[]).map(toRecord));
  }

  serviceLost(runId: string, reason: string, at: number): Promise<void> {
    const writes = this.writes;
    this.batch();
    writes.lost.run(reason, at, runId);
    return DONE;
  }

  lastSlots(): Promise<Map<string, number>> {
    return Promise.resolve(new Map((this.statements.lastSlots.all() as { job: string; at: number }[]).map((row) => [row.job, row.at])));
  }

  heartbeat(at: number): Promise<void> {
    const writes = this.writes;
    this.batch();
    writes.heartbeat.run(this.node, at);
    // Once per store: the heartbeats of earlier node ids (an earlier start's hostname, a file
    // from before schema 3) that are no later than this one; the latest stays the same.
    if (this.heartbeats++ === 0) {
      writes.tidyHeartbeats.run(this.node, at);
      writes.tidyOldHeartbeat.run(at);
    }
    return DONE;
  }

  setCrontab(path: string): Promise<void> {
    this.batch();
    this.db.prepare(`INSERT INTO meta (key, value) VALUES ('crontab', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(path);
    return DONE;
  }

  /** Null also for a file from before schema 2 opened read-only (not migrated, no meta table). */
  crontab(): Promise<string | null> {
    const hasMeta = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined;
    if (!hasMeta) return Promise.resolve(null);
    return Promise.resolve((this.db.prepare(`SELECT value FROM meta WHERE key = 'crontab'`).get() as { value: string } | undefined)?.value ?? null);
  }

  /** The latest of any node's (one daemon holds this file; its node id may change between starts). */
  lastHeartbeat(): Promise<number | null> {
    return Promise.resolve((this.statements.lastHeartbeat.get() as { value: number | null } | undefined)?.value ?? null);
  }

  history(job: string | undefined, limit: number): Promise<RunRecord[]> {
    const rows = job === undefined ? this.statements.historyAll.all(limit) : this.statements.historyJob.all(job, limit);
    return Promise.resolve((rows as Row[]).map(toRecord));
  }

  /**
   * The runs of one table's jobs (`cron.d/sysstat`: ids `cron.d/sysstat:...`), newest first,
   * for `schedd history --table`. Prepared here: only the CLI asks, once.
   */
  tableHistory(table: string, limit: number): Promise<RunRecord[]> {
    const prefix = `${table}:`;
    const rows = this.db.prepare(`SELECT * FROM runs WHERE substr(job, 1, ?) = ? ORDER BY scheduled_at DESC, rowid DESC LIMIT ?`).all(prefix.length, prefix, limit);
    return Promise.resolve((rows as Row[]).map(toRecord));
  }

  output(job: string, runId?: string): Promise<{ run: RunRecord; output: RunOutput } | null> {
    const row = (runId === undefined ? this.statements.outputLatest.get(job) : this.statements.outputRun.get(job, runId)) as
      | (Row & { output_head: string | null; output_tail: string | null; output_bytes: number | null; output_truncated: number | null })
      | undefined;
    if (row === undefined) return Promise.resolve(null);
    return Promise.resolve({ run: toRecord(row), output: { head: row.output_head ?? '', tail: row.output_tail ?? '', bytes: row.output_bytes ?? 0, truncated: row.output_truncated === 1 } });
  }

  /**
   * The latest runs that ran and did not succeed (or were lost), newest first, for `status`.
   * Skipped and missed slots are left out: a stall or an overlap policy makes many of them; so
   * are the failed attempts of a retried run (`RUN.N`), whose own row says how it ended.
   * Prepared here, not with the others: only the CLI asks, once.
   */
  recentFailures(limit: number): Promise<RunRecord[]> {
    const rows = this.db
      .prepare(`SELECT * FROM runs WHERE outcome NOT IN ('ok', 'running', 'skipped', 'missed') AND instr(run_id, '.') = 0 ORDER BY scheduled_at DESC, rowid DESC LIMIT ?`)
      .all(limit);
    return Promise.resolve((rows as Row[]).map(toRecord));
  }

  lastRuns(): Promise<Map<string, RunRecord>> {
    return Promise.resolve(new Map((this.statements.lastRuns.all() as Row[]).map((row) => [row.job, toRecord(row)])));
  }

  close(): Promise<void> {
    this.commit();
    this.db.close();
    return DONE;
  }
}
