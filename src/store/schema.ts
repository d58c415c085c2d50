/**
 * The schema, as numbered migrations. `user_version` says how many have been applied; each one
 * runs once, in a transaction, so a newer schedd upgrades an older file in place.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     run_id TEXT PRIMARY KEY,
     job TEXT NOT NULL,
     scheduled_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     outcome TEXT NOT NULL,
     exit_code INTEGER,
     signal TEXT,
     duration_ms INTEGER,
     reason TEXT,
     pid INTEGER,
     attempt INTEGER NOT NULL DEFAULT 1,
     output_head TEXT,
     output_tail TEXT,
     output_bytes INTEGER,
     output_truncated INTEGER
   );
   CREATE INDEX runs_by_job ON runs (job, scheduled_at);
   CREATE INDEX runs_in_flight ON runs (outcome) WHERE outcome = 'running';
   CREATE TABLE daemon (key TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
  // Which crontab the history belongs to, so `schedd list -c OTHER` does not borrow its runs.
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // Several nodes on one history. Rows from before this migration keep node NULL: which host
  // wrote them is not known (a container's hostname changes at every start), so none is made
  // up. A slot is run once in the whole store: the row of a claim holds its slot (claimed = 1)
  // under a unique key; the other rows of that slot (skipped, missed, a retried run's failed
  // attempts RUN.N) hold none (NULL, and NULLs never collide in a unique index). The key
  // replaces the (job, scheduled_at) index it extends: a claim writes no more pages than
  // before, and claims are pruned with their runs. The runs already recorded hold their slots
  // (the first one per slot, should an older schedd have recorded two).
  `ALTER TABLE runs ADD COLUMN node TEXT;
   ALTER TABLE runs ADD COLUMN claimed INTEGER;
   UPDATE runs SET claimed = 1 WHERE rowid IN (
     SELECT MIN(rowid) FROM runs WHERE outcome NOT IN ('skipped', 'missed') AND instr(run_id, '.') = 0 GROUP BY job, scheduled_at);
   DROP INDEX runs_by_job;
   CREATE UNIQUE INDEX runs_by_slot ON runs (job, scheduled_at, claimed);
   CREATE TABLE heartbeats (node TEXT PRIMARY KEY, at INTEGER NOT NULL);`,
  // Services: a row per start of an instance (scheduled_at is the start; no slot is claimed).
  // The rows of jobs keep instance NULL.
  `ALTER TABLE runs ADD COLUMN instance INTEGER;`,
  // MAILTO: what became of a run's mail. Both NULL when no mail was due (and on older rows).
  `ALTER TABLE runs ADD COLUMN mail_status TEXT;
   ALTER TABLE runs ADD COLUMN mail_detail TEXT;`,
];
