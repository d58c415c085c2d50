import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Account } from '../accounts.js';
import { ScheddError } from '../errors.js';
import { unsafeAncestor, unsafeWalk } from '../safe-path.js';
import { parseCrontab } from '../crontab/parse.js';
import { formatDiagnostic, LOGGED_ERRORS } from '../sources/crontab-file.js';
import { validateJobSet } from '../sources/validate.js';
import { MAX_TABLE_BYTES, type InstallResult } from './protocol.js';
import { spoolableName, spoolDir, tablePath } from './layout.js';

/**
 * A user's table in the spool, as root: listed, validated and installed, removed. Both ways in
 * come here: root running `schedd crontab` itself, and the daemon answering a user on
 * crontab.sock. The daemon watches the spool, so nothing is signalled.
 *
 * Installing is atomic and never follows a link: a temporary file created O_EXCL|O_NOFOLLOW in
 * the spool itself (a dot name, which cron and schedd skip), written, given to the user and
 * mode 0600 through its descriptor, flushed, renamed over USER, and the directory flushed. A
 * reader sees the old table or the new one, never half of one, and always the owner and mode
 * cron requires.
 */

function refuse(message: string): never {
  throw new ScheddError('SCHEDD_SPOOL', message);
}

function checkName(user: string): void {
  if (!spoolableName(user)) refuse(`user name '${user}' cannot name a table in the spool`);
}

/**
 * The spool directory, created root's 0700 when missing (its parents 0755, as Debian has
 * them); an existing one is kept as it is (Debian's cron leaves it 1730 root:crontab). Either
 * way every directory down to it must be root's and not writable by others unless sticky: root
 * writes here, and a directory someone else controls could point the writes anywhere.
 */
export async function prepareSpool(cronRoot: string): Promise<string> {
  const dir = spoolDir(cronRoot);
  if (!(await checkSpool(dir))) {
    await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
    await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    await checkSpool(dir);
  }
  return dir;
}

/** The spool rule above, for a spool that may not exist yet: false when it does not. */
async function checkSpool(dir: string): Promise<boolean> {
  const walk = unsafeWalk(dir, [0], { missingOk: true });
  if (walk !== null) refuse(`spool ${dir}: ${walk}`);
  const stat = await lstat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (stat === null) return false;
  if (!stat.isDirectory()) refuse(`spool ${dir} is not a directory (expected one, root's)`);
  if (stat.uid !== 0) refuse(`spool ${dir} is owned by uid ${stat.uid} (expected root)`);
  const problem = unsafeAncestor(dir, [0]);
  if (problem !== null) refuse(`spool ${dir}: ${problem}`);
  return true;
}

/**
 * The user's table, or null when there is none. A link or anything but a regular file is
 * refused; for a caller on the socket (`ownerUid`), so is a file that is not theirs, with one
 * link, as cron requires: root's bytes are never shown to a user through a name in the spool.
 */
export async function readTable(cronRoot: string, user: string, ownerUid?: number): Promise<string | null> {
  checkName(user);
  const path = tablePath(cronRoot, user);
  if (!(await checkSpool(spoolDir(cronRoot)))) return null;
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') refuse(`${path} is a symbolic link (expected a regular file; remove it)`);
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) refuse(`${path} is not a regular file (remove it)`);
    if (ownerUid !== undefined && (stat.uid !== ownerUid || stat.nlink !== 1)) refuse(`${path} is not a table of yours (owned by uid ${stat.uid}, ${stat.nlink} links; ask root to remove it)`);
    if (stat.size > 4 * MAX_TABLE_BYTES) refuse(`${path} is over ${(4 * MAX_TABLE_BYTES) / 1024} KiB`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

export interface ValidateFor {
  /** For a caller on the socket: no warnings that come from looking at this machine as root (a cwd's existence). */
  unprivileged?: boolean;
}

/** Validates the table as the daemon will read it, and installs it only when it has no errors. */
export async function installTable(cronRoot: string, account: Account, text: string, name: string, options: ValidateFor = {}): Promise<InstallResult> {
  checkName(account.name);
  const path = tablePath(cronRoot, account.name);
  const refused = (errors: string[], errorCount = errors.length): InstallResult => ({ user: account.name, installed: false, jobs: 0, errors, errorCount, warnings: [] });
  if (Buffer.byteLength(text, 'utf8') > MAX_TABLE_BYTES) return refused([`${name}: the table is over ${MAX_TABLE_BYTES / 1024} KiB`]);
  // A user's table runs only as that user. Checked on the parse first, so that a table naming
  // thousands of users never costs the daemon a lookup of each (validation runs in its loop).
  const others = parseCrontab(text, { system: false }).entries.filter((entry) => (entry.user ?? entry.options.user ?? account.name) !== account.name);
  if (others.length > 0) {
    return refused(
      others.slice(0, LOGGED_ERRORS).map((entry) => `${name}:${entry.line}:1: user=${entry.user ?? entry.options.user}: a user's crontab runs only as its owner (expected no user=, or user=${account.name})`),
      others.length,
    );
  }
  const set = validateJobSet(text, { id: `user/${account.name}`, path, name, system: false, owner: account.name }, { lookup: (user) => (user === account.name ? account : null), root: true });
  const warnings = set.problems
    .filter((problem) => problem.severity === 'warning' && !(options.unprivileged === true && problem.machine))
    .map((problem) => formatDiagnostic(name, problem));
  const result: InstallResult = { user: account.name, installed: false, jobs: set.entries.length, errors: set.errors, errorCount: set.errorCount, warnings };
  if (set.errorCount > 0) return result;
  await writeAtomically(await prepareSpool(cronRoot), account, text);
  return { ...result, installed: true };
}

async function writeAtomically(dir: string, account: Account, text: string): Promise<void> {
  const temporary = join(dir, `.schedd-${randomBytes(6).toString('hex')}`);
  const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      await handle.writeFile(text, 'utf8');
      await handle.chown(account.uid, account.gid);
      // After the chown (which clears nothing here, but the umask may have narrowed it).
      await handle.chmod(0o600);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, join(dir, account.name));
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  const folder = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => null);
  await folder?.sync().catch(() => {});
  await folder?.close();
}

/** Removes the user's table (a link planted in its place is removed, never followed); false when there was none. */
export async function removeTable(cronRoot: string, user: string): Promise<boolean> {
  checkName(user);
  const dir = spoolDir(cronRoot);
  if (!(await checkSpool(dir))) return false;
  try {
    await unlink(join(dir, user));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
