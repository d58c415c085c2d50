import type { Account } from '../accounts.js';
import type { Diagnostic, Entry } from '../crontab/types.js';

/** A file of jobs the daemon runs. Today there is one, the crontab (`-c`). */
export interface JobSource {
  /**
   * '' for the main crontab, whose job ids are the ones users have always seen; another
   * source's jobs are `SOURCEID:LOCALID` (a job name cannot contain ':', so the two never meet).
   */
  id: string;
  path: string;
  /** The path as the user gave it, for messages. */
  name: string;
  /** System crontab format: a user column between the schedule and the command. */
  system: boolean;
  /**
   * A user's table (`crontab -e`, the spool): every job runs as this user, and no entry may
   * name another (`user=`).
   */
  owner?: string;
  /**
   * One of the machine's cron tables (`--cron`), read by cron's rules (cron-tables.ts): `system`
   * for /etc/crontab and /etc/cron.d, `spool` for a user's. Absent for a schedd crontab (`-c`).
   */
  table?: 'system' | 'spool';
}

/**
 * One problem of a source, located in its file. `machine`: found by looking at this machine
 * (accounts, directories, ids across sources), not by reading the text alone; the daemon logs
 * the warnings among these, which a parse of the text cannot show.
 */
export interface Problem extends Diagnostic {
  machine: boolean;
}

/** A source read and validated: its jobs, or why they must not run. */
export interface JobSet {
  source: JobSource;
  /** The jobs, with final ids and each cwd resolved against the file's folder. */
  entries: Entry[];
  /**
   * Some entry was skipped because its user does not exist (cron's rule for a system table):
   * the set is validated again at each reload, so the entry runs once the user exists.
   */
  waiting: boolean;
  /** Every problem kept, in file order (the parser keeps the first ones of a flood). */
  problems: Problem[];
  /** The errors among `problems`, formatted `FILE:LINE:COL: message (expected ...)`. */
  errors: string[];
  /** All errors, counting those the parser only counted: more than `errors` holds then. */
  errorCount: number;
  /** The warnings among `problems`, formatted `FILE:LINE:COL: warning: ...`. */
  warnings: string[];
  warningCount: number;
  /** The text the set was made from (a reload compares it with the one applied). */
  text: string;
  /** The accounts of the users that the jobs run as, looked up while validating. */
  accounts: ReadonlyMap<string, Account>;
}

/** Every source's set together: what the daemon schedules when `errorCount` is 0. */
export interface LoadedJobs {
  sets: readonly JobSet[];
  entries: Entry[];
  /** Every source's errors, then ids used by two sources. */
  errors: string[];
  errorCount: number;
  accounts: ReadonlyMap<string, Account>;
}
