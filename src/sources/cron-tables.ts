import { constants, lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Account } from '../accounts.js';
import { ScheddError } from '../errors.js';
import { unsafeWalk } from '../safe-path.js';
import { readBounded } from './crontab-file.js';
import type { JobSource } from './types.js';

/**
 * The machine's cron tables, found and read as Debian's cron finds and reads them (cron
 * 3.0pl1's database.c): `/etc/crontab` and every file of `/etc/cron.d` in the system format
 * (a user column), and each user's table in the spool, which runs as that user. Every path
 * sits under a cron root ('/' but for containers, chroots and tests).
 */

export interface CronLayout {
  root: string;
  crontab: string;
  cronD: string;
  spool: string;
  allow: string;
  deny: string;
}

export function cronLayout(root: string): CronLayout {
  const under = (path: string): string => join(root, path);
  return {
    root,
    crontab: under('etc/crontab'),
    cronD: under('etc/cron.d'),
    spool: under('var/spool/cron/crontabs'),
    allow: under('etc/cron.allow'),
    deny: under('etc/cron.deny'),
  };
}

/** run-parts' rule, which cron applies to /etc/cron.d: `php.dpkg-old`, `.placeholder`, `x~` are not tables. */
export const CRON_D_NAME = /^[a-zA-Z0-9_-]+$/;

/** What a spool table may be named: a user name (useradd's rule, and LDAP's `$` for machines). */
const USER_NAME = /^[a-zA-Z0-9_][a-zA-Z0-9_.@-]{0,255}\$?$/;

/** Whether a spool file's name can be a user's table (and so `schedd crontab` may write it). */
export function isSpoolTableName(name: string): boolean {
  return USER_NAME.test(name);
}

/** A file in a cron directory that is not a table, and why (`schedd list --cron --all`). */
export interface SkippedFile {
  path: string;
  reason: string;
}

export interface CronTables {
  sources: JobSource[];
  skipped: SkippedFile[];
}

/** The tables under the layout now: names only (each is judged when it is read). */
export function findCronTables(layout: CronLayout): CronTables {
  const sources: JobSource[] = [];
  const skipped: SkippedFile[] = [];
  if (exists(layout.crontab)) sources.push({ id: 'crontab', path: layout.crontab, name: layout.crontab, system: true, table: 'system' });
  for (const name of listDir(layout.cronD)) {
    const path = join(layout.cronD, name);
    if (!CRON_D_NAME.test(name)) skipped.push({ path, reason: 'name is not made of letters, digits, _ and - (cron skips it)' });
    else sources.push({ id: `cron.d/${name}`, path, name: path, system: true, table: 'system' });
  }
  for (const name of listDir(layout.spool)) {
    const path = join(layout.spool, name);
    // crontab(1)'s temporary files (Debian's `tmp.PID`, schedd's dot files) are not tables.
    if (name.startsWith('.') || name.startsWith('tmp.')) skipped.push({ path, reason: 'a temporary file of crontab' });
    else if (!isSpoolTableName(name)) skipped.push({ path, reason: 'not a user name' });
    else sources.push({ id: `user/${name}`, path, name: path, system: false, table: 'spool', owner: name });
  }
  return { sources, skipped };
}

/**
 * A system table's text, or a refusal (thrown, SCHEDD_CRONTAB_REFUSED) that says why cron
 * would not run it: a regular file owned by root, not writable by group or others, with one
 * link; a symlink when the link is root's too. Judged from the descriptor that is read, as
 * readCrontabText does, and every directory on the way must be root's.
 */
export async function readSystemTable(source: JobSource): Promise<{ text: string; identity: string }> {
  let link: Stats;
  try {
    link = lstatSync(source.path);
  } catch (error) {
    throw unreadable(source, error);
  }
  if (link.isSymbolicLink() && link.uid !== 0) throw refused(source, `a symbolic link owned by uid ${link.uid} (expected root's)`);
  return readTable(source, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK, (stat) => {
    if (stat.uid !== 0) return `owned by uid ${stat.uid} (expected root)`;
    if ((stat.mode & 0o022) !== 0) return `writable by group or others (mode ${octal(stat.mode)}; expected no write bit for them: chmod go-w)`;
    return null;
  });
}

/**
 * A user's table from the spool: a regular file owned by the user it is named after, mode
 * 0600, one link, opened without following a link (the user owns the file, so a link would
 * be theirs to point at any file root can read).
 */
export async function readSpoolTable(source: JobSource, account: Account): Promise<{ text: string; identity: string }> {
  return readTable(source, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK | constants.O_NOFOLLOW, (stat) => {
    if (stat.uid !== account.uid) return `owned by uid ${stat.uid} (expected ${account.name}'s, uid ${account.uid})`;
    if ((stat.mode & 0o7777) !== 0o600) return `mode ${octal(stat.mode)} (expected 600)`;
    return null;
  });
}

/** What identifies the file's content and safety: a table whose identity is as applied need not be read again. */
export function tableIdentity(stat: Stats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}:${stat.uid}:${stat.mode}:${stat.nlink}`;
}

/**
 * The identity of the table now, or null when it is gone: of the file a system table's link
 * points at, of the spool's name itself (a link there never matches a file read, so it is read
 * again, and refused).
 */
export function currentIdentity(source: JobSource): string | null {
  try {
    return tableIdentity(source.table === 'spool' ? lstatSync(source.path) : statSync(source.path));
  } catch {
    return null;
  }
}

async function readTable(source: JobSource, flags: number, judge: (stat: Stats) => string | null): Promise<{ text: string; identity: string }> {
  let handle: FileHandle;
  try {
    handle = await open(source.path, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw refused(source, 'a symbolic link (a user table is opened without following links)');
    throw unreadable(source, error);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw refused(source, 'not a regular file');
    if (stat.nlink !== 1) throw refused(source, `${stat.nlink} hard links (expected 1: another name could change it)`);
    const problem = judge(stat);
    if (problem !== null) throw refused(source, problem);
    // Whoever can change a directory on the way could swap the table between two reads.
    const walk = unsafeWalk(source.path, [0]);
    if (walk !== null) throw refused(source, `directory ${walk}`);
    const text = await readBounded(handle, source.path, source.name);
    return { text, identity: tableIdentity(stat) };
  } finally {
    await handle.close();
  }
}

function refused(source: JobSource, why: string): ScheddError {
  return new ScheddError('SCHEDD_CRONTAB_REFUSED', `${source.name}: refused: ${why}; cron would not run it either`);
}

function unreadable(source: JobSource, error: unknown): ScheddError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
  return new ScheddError('SCHEDD_CRONTAB_UNREADABLE', `cannot read ${source.name}: ${why}`, { cause: error });
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8);
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A directory's names, sorted; none when it is missing or not a directory. */
function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
