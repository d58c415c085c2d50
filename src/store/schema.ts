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
];
