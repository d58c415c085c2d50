import { fileURLToPath } from 'node:url';
import { lookupAccount, type Account } from '../accounts.js';
import { prepareStateDir } from '../state-dir/check.js';
import { ScheddError, usageError } from '../errors.js';
import type { Log } from '../log.js';
import type { DaemonConfig } from '../config.js';

/**
 * What `start` and the two processes of detached mode share. Kept apart from start.ts so that
 * the watchdog's entry (watchdog.ts) loads none of the scheduler: its memory is a Node runtime
 * and this, not the daemon's whole module graph.
 */

export const CLI_PATH = fileURLToPath(new URL('../../../bin/schedd.js', import.meta.url));

export function flush(log: Log): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}

/** The `--user` account (null without --user); refused unless we are root. */
function daemonAccount(user: string | undefined): Account | null {
  if (user === undefined) return null;
  if (process.geteuid?.() !== 0) throw new ScheddError('SCHEDD_USER', `--user needs schedd to be started as root (running as uid ${process.geteuid?.()})`);
  const account = lookupAccount(user);
  if (account === null) throw new ScheddError('SCHEDD_USER', `--user ${user}: no such user`);
  return account;
}

/**
 * The state directory, created if need be and validated for the daemon's user, by its real
 * path from then on. With --user, privileges are dropped right after (the foreground) or by the
 * watchdog before it opens anything (detached): no root process writes in the user's directory.
 */
export function prepare(options: DaemonConfig, create: boolean): { options: DaemonConfig; account: Account | null } {
  // Each cron table runs as its own users, which only root can do.
  if (options.cron && options.user !== undefined) throw usageError('--cron runs every table as its own users, which needs root (expected --cron without --user)');
  const account = daemonAccount(options.user);
  const stateDir = prepareStateDir(options.stateDir, { create, ...(account === null ? {} : { owner: { uid: account.uid, gid: account.gid } }) });
  return { options: { ...options, stateDir }, account };
}
