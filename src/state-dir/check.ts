import { closeSync, constants, existsSync, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ScheddError } from '../errors.js';
import { unsafeAncestor, unsafeWalk } from '../safe-path.js';
import { STATE_FILES, stateEntryKind } from './paths.js';

/**
 * The state directory is where a root daemon writes (pidfile, log, history, socket). If anyone
 * but the daemon's user could change it, they could point those writes at any file through a
 * link, or answer for the daemon on its socket. So before anything is opened in it: the parent
 * is resolved once (and that real path used from then on), every ancestor follows the OpenSSH
 * rule (owned by root or the daemon's user, not writable by others unless sticky), and the
 * directory itself is a real directory of the daemon's user, mode 0700, checked and fixed through
 * a descriptor. The entries schedd knows are checked too: a planted link or a foreign file is
 * refused, never followed or chowned.
 */

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

function refuse(message: string): never {
  throw new ScheddError('SCHEDD_STATE_DIR', message);
}

function denied(dir: string): string {
  return `state directory ${dir}: permission denied for uid ${process.geteuid!()} (expected a directory you own; see --state-dir)`;
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/**
 * The ancestor rule on the path as given, walked as the kernel walks it: a link inside a
 * directory someone else controls could be repointed, and `mkdir -p` would create through it.
 * (The real path is checked too, by checkAncestors.) Returns the first problem, or null.
 */
function lexicalProblem(dir: string, owners: number[]): string | null {
  return unsafeWalk(dir, owners, { missingOk: true });
}

/**
 * The directory's real path (parent resolved), or a one-line refusal for what stands in the way.
 * Missing parents are created only once the path as given passed the ancestor rule.
 */
function resolveDir(dir: string, create: boolean, owners: number[]): string {
  const parent = dirname(dir);
  try {
    const problem = lexicalProblem(dir, owners);
    if (problem !== null) refuse(`state directory ${dir}: parent ${problem}`);
    if (create && !existsSync(parent)) mkdirSync(parent, { recursive: true, mode: 0o700 });
    return join(realpathSync(parent), basename(dir));
  } catch (error) {
    if (errnoOf(error) === 'EACCES') refuse(denied(dir));
    throw error;
  }
}

function checkAncestors(dir: string, owners: number[]): void {
  let problem: string | null;
  try {
    problem = unsafeAncestor(dirname(dir), owners);
  } catch (error) {
    if (errnoOf(error) === 'EACCES') refuse(denied(dir));
    throw error;
  }
  if (problem !== null) refuse(`state directory ${dir}: parent ${problem}`);
}

function describeKind(stat: Stats): string {
  if (stat.isSymbolicLink()) return 'a symbolic link';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isFile()) return 'a regular file';
  return 'a device or other special file';
}

/**
 * Refuses a known entry of the wrong kind or owner: schedd would write through it. In a
 * directory others may search (`searchable`), also any file they could read by its name (the
 * log and the history hold jobs' output, the lock secret names the instance locks): only the
 * pidfile (a pid, public anyway) and the users' crontab socket are for others.
 */
function checkEntries(dir: string, ownerUid: number, searchable = false): void {
  for (const name of readdirSync(dir)) {
    const kind = stateEntryKind(name);
    if (kind === null) continue;
    let stat: Stats;
    try {
      stat = lstatSync(join(dir, name));
    } catch {
      continue; // gone meanwhile
    }
    const path = join(dir, name);
    // Nothing is written through a directory: opening it fails, as it always did (the run
    // history, for one, reports itself unavailable and keeps retrying).
    if (stat.isDirectory()) continue;
    const wanted = kind === 'socket' ? 'a socket' : 'a regular file';
    const ok = kind === 'socket' ? stat.isSocket() : stat.isFile();
    if (!ok) refuse(`state directory ${dir}: ${path} is ${describeKind(stat)} (expected ${wanted}; remove it)`);
    const owners = kind === 'rotated-log' ? [ownerUid, 0] : [ownerUid];
    if (!owners.includes(stat.uid)) refuse(`state directory ${dir}: ${path} is owned by uid ${stat.uid} (expected ${ownerUid}; remove it)`);
    if (kind !== 'socket' && stat.nlink !== 1) refuse(`state directory ${dir}: ${path} has ${stat.nlink} hard links (expected 1; remove it)`);
    const forOthers = name === STATE_FILES.pidfile || name === STATE_FILES.crontabSocket;
    if (searchable && !forOthers && (stat.mode & 0o007) !== 0) {
      refuse(`state directory ${dir}: ${path} is open to others (mode ${(stat.mode & 0o777).toString(8)}) in a directory they may search (expected no access for others: chmod o-rwx it)`);
    }
  }
}

/** Checks the open directory: ours, a directory, no write for others; a stray mode is fixed to 0700 (0711 when searchable). */
function checkOpenDir(dir: string, fd: number, ownerUid: number, searchable: boolean): void {
  const stat = fstatSync(fd);
  if (!stat.isDirectory()) refuse(`state directory ${dir} is ${describeKind(stat)} (expected a directory)`);
  if (stat.uid !== ownerUid) refuse(`state directory ${dir} is owned by uid ${stat.uid} (expected ${ownerUid})`);
  const mode = stat.mode & 0o7777;
  if ((mode & 0o022) !== 0) refuse(`state directory ${dir} is writable by group or others (mode ${mode.toString(8)}; expected 700)`);
  const wanted = searchable ? 0o711 : 0o700;
  if (mode !== wanted) fchmodSync(fd, wanted);
}

function isEmptyRootDir(fd: number): boolean {
  const stat = fstatSync(fd);
  return stat.isDirectory() && stat.uid === 0 && (stat.mode & 0o022) === 0 && readdirSync(`/proc/self/fd/${fd}`).length === 0;
}

export interface StateDirOptions {
  /** Create it (mode 0700) when missing: `start` only. */
  create: boolean;
  /** The daemon's account when it differs from ours (`--user` as root). */
  owner?: { uid: number; gid: number };
  /**
   * Mode 0711 instead of 0700: a root daemon with --cron serves users on crontab.sock, which
   * they must reach by name. They still cannot list the directory, and every file in it but
   * the pidfile must then be closed to them (checked with the entries).
   */
  searchable?: boolean;
}

/**
 * Validates (and for `start`, creates) the daemon's state directory; returns the path to use
 * from now on (the parent resolved). A directory we create for `--user`, or an empty one of
 * root's, is handed to that user through its descriptor; any other must already be theirs
 * (schedd never chowns by path).
 */
export function prepareStateDir(dir: string, options: StateDirOptions): string {
  const ownerUid = options.owner?.uid ?? process.geteuid!();
  const real = resolveDir(dir, options.create, [ownerUid]);
  checkAncestors(real, [ownerUid]);
  let created = false;
  if (options.create) {
    try {
      mkdirSync(real, { mode: 0o700 });
      created = true;
    } catch (error) {
      if (errnoOf(error) === 'EACCES') refuse(denied(real));
      if (errnoOf(error) !== 'EEXIST') throw error;
    }
  }
  let before: Stats;
  try {
    before = lstatSync(real);
  } catch (error) {
    if (errnoOf(error) === 'EACCES') refuse(denied(real));
    throw error;
  }
  if (!before.isDirectory()) refuse(`state directory ${real} is ${describeKind(before)} (expected a directory)`);
  let fd: number;
  try {
    fd = openSync(real, DIR_FLAGS);
  } catch (error) {
    if (errnoOf(error) === 'EACCES') refuse(`state directory ${real} is owned by uid ${before.uid} (expected ${ownerUid})`);
    if (errnoOf(error) === 'ELOOP' || errnoOf(error) === 'ENOTDIR') refuse(`state directory ${real} is a symbolic link (expected a directory)`);
    throw error;
  }
  try {
    // What we created is ours to give away, and so is an empty directory of root's (systemd's
    // StateDirectory= makes one): nobody else can add to it, and emptiness is read through the
    // descriptor. Anything else must already belong to the user.
    const owner = options.owner;
    if (owner !== undefined && owner.uid !== process.geteuid!() && (created || isEmptyRootDir(fd))) fchownSync(fd, owner.uid, owner.gid);
    // Created with 0700 the umask cannot widen it; fixed here for a directory made some other way.
    checkOpenDir(real, fd, ownerUid, options.searchable === true);
  } finally {
    closeSync(fd);
  }
  checkEntries(real, ownerUid, options.searchable === true);
  return real;
}

/**
 * For client commands (status, stop, reload, run, history, output, logs, list): a state
 * directory that does not exist is fine (nothing runs); one that exists must be a real directory
 * of ours, not writable by others. As root any owner is accepted when only root could have made
 * it so (every ancestor root's and not writable by others): /var/lib/schedd handed to a --user
 * account. Throws a one-line ScheddError (exit 1).
 */
export function checkStateDirForClient(dir: string): void {
  const euid = process.geteuid!();
  let real: string;
  let stat: Stats;
  try {
    const problem = lexicalProblem(dir, euid === 0 ? [] : [euid]);
    if (problem !== null) refuse(`state directory ${dir}: parent ${problem}`);
    real = join(realpathSync(dirname(dir)), basename(dir));
    stat = lstatSync(real);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return;
    if (errnoOf(error) === 'EACCES') refuse(denied(dir));
    throw error;
  }
  if (!stat.isDirectory()) refuse(`state directory ${real} is ${describeKind(stat)} (expected a directory)`);
  checkAncestors(real, euid === 0 ? [] : [euid]);
  if (stat.uid !== euid && euid !== 0) refuse(`state directory ${real} is owned by uid ${stat.uid} (expected ${euid})`);
  if (stat.uid !== euid) {
    // Root reading another user's directory: only if root made it theirs. A sticky parent (/tmp)
    // passes the ancestor rule, but there anyone could have created the directory.
    const parent = lstatSync(dirname(real));
    if (parent.uid !== 0 || (parent.mode & 0o022) !== 0) refuse(`state directory ${real} is owned by uid ${stat.uid} (expected ${euid})`);
  }
  const mode = stat.mode & 0o7777;
  if ((mode & 0o022) !== 0) refuse(`state directory ${real} is writable by group or others (mode ${mode.toString(8)}; expected 700)`);
  checkEntries(real, stat.uid);
}
