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
  // up. A slot is run once in the whole store: the first claim of (job, slot) wins. Not a
  // unique index on runs: a retried run's attempts (RUN.N) and skipped or missed records share
  // (job, scheduled_at) with other rows. The claims of a job are pruned with its runs. The runs
  // already recorded hold their slots (node NULL too), so no slot of theirs is claimed again.
  `ALTER TABLE runs ADD COLUMN node TEXT;
   CREATE TABLE claims (
     job TEXT NOT NULL,
     slot INTEGER NOT NULL,
     run_id TEXT NOT NULL,
     node TEXT,
     claimed_at INTEGER NOT NULL,
     PRIMARY KEY (job, slot)
   ) WITHOUT ROWID;
   INSERT OR IGNORE INTO claims (job, slot, run_id, node, claimed_at)
     SELECT job, scheduled_at, run_id, NULL, COALESCE(started_at, scheduled_at) FROM runs
     WHERE outcome NOT IN ('skipped', 'missed') AND instr(run_id, '.') = 0;
   CREATE TABLE heartbeats (node TEXT PRIMARY KEY, at INTEGER NOT NULL);`,
];
