import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Account } from '../accounts.js';
import { cronLayout, isSpoolTableName } from '../sources/cron-tables.js';

/**
 * Where Debian's cron keeps users' tables and who may have one: the spool
 * (`CRONROOT/var/spool/cron/crontabs/USER`), `CRONROOT/etc/cron.allow` and `cron.deny`.
 */

export function spoolDir(cronRoot: string): string {
  return cronLayout(cronRoot).spool;
}

export function tablePath(cronRoot: string, user: string): string {
  return join(spoolDir(cronRoot), user);
}

export function allowPath(cronRoot: string): string {
  return cronLayout(cronRoot).allow;
}

export function denyPath(cronRoot: string): string {
  return cronLayout(cronRoot).deny;
}

/**
 * A user name that can be a file of the spool, as the daemon reads the spool (sources/): no
 * slash, no leading dot (the spool's temporary files start with one), nothing a terminal would act on.
 */
export function spoolableName(name: string): boolean {
  return isSpoolTableName(name);
}

const MAX_LIST_BYTES = 1024 * 1024;

/** A cron.allow or cron.deny: its user names (a line each, blanks and # comments skipped), or null when absent. */
async function readUserList(path: string): Promise<string[] | null> {
  let handle;
  try {
    // O_NONBLOCK: a FIFO in its place must not hang the daemon.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error(`${path} is not a regular file`);
    if (stat.size > MAX_LIST_BYTES) throw new Error(`${path} is over 1 MiB`);
    const text = await handle.readFile('utf8');
    return text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
  } finally {
    await handle.close();
  }
}

export type Allowed = { ok: true } | { ok: false; message: string };

/**
 * Debian's rule: root always; else if cron.allow exists, only the users listed there; else if
 * cron.deny exists, everyone but those listed; with neither, everyone. A list that cannot be
 * read refuses (closed, not open).
 */
export async function crontabAllowed(cronRoot: string, account: Pick<Account, 'name' | 'uid'>): Promise<Allowed> {
  if (account.uid === 0) return { ok: true };
  const notAllowed: Allowed = { ok: false, message: `You (${account.name}) are not allowed to use this program (crontab)` };
  try {
    const allow = await readUserList(allowPath(cronRoot));
    if (allow !== null) return allow.includes(account.name) ? { ok: true } : notAllowed;
    const deny = await readUserList(denyPath(cronRoot));
    if (deny !== null) return deny.includes(account.name) ? notAllowed : { ok: true };
    return { ok: true };
  } catch (error) {
    return { ok: false, message: `cannot read the cron.allow or cron.deny of ${cronRoot}: ${(error as Error).message}` };
  }
}

/** The account of a uid through NSS (getent), without blocking the daemon; null when there is none. */
export function accountOfUid(uid: number): Promise<Account | null> {
  return new Promise((resolve) => {
    execFile('getent', ['passwd', String(uid)], { encoding: 'utf8', timeout: 10_000 }, (error, stdout) => {
      if (error !== null) return resolve(null);
      const [name, , uidText, gid, , home, shell] = stdout.trim().split('\n')[0]!.split(':');
      // getent answers a numeric name too: only a line for this very uid counts.
      if (name === undefined || Number(uidText) !== uid || gid === undefined) return resolve(null);
      resolve({ name, uid, gid: Number(gid), home: home ?? '/', shell: shell ?? '/bin/sh' });
    });
  });
}
