import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, renameSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ScheddError } from './errors.js';

/** The log's mode however schedd was started (the umask does not matter): the owner and its group read it. */
export const LOG_FILE_MODE = 0o640;

/**
 * Opens the log file for appending without following links: a root daemon must not append to
 * whatever a planted `schedd.log` symlink points at. The file opened must be a regular file with
 * one link, owned by us (or by `owner`, the --user account); created, it gets LOG_FILE_MODE and
 * that owner through its descriptor. Throws a one-line
 * ScheddError (code SCHEDD_LOG_UNSAFE) for a file that is refused, the errno error otherwise.
 * The descriptor is close-on-exec (libuv opens every file so): jobs never inherit it.
 */
export function openLogFile(path: string, owner?: { uid: number; gid: number }): number {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // O_NONBLOCK: opening a planted FIFO would wait for a reader forever (on a file it does nothing).
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  let fd: number;
  let created = false;
  try {
    fd = openSync(path, flags | constants.O_CREAT | constants.O_EXCL, LOG_FILE_MODE);
    created = true;
  } catch (error) {
    // O_EXCL fails on any existing name, a link included: open what is there, never through a link.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    try {
      fd = openSync(path, flags);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code === 'ELOOP') throw unsafe(path, 'is a symbolic link, not followed (expected a regular file)');
      if ((again as NodeJS.ErrnoException).code === 'ENXIO') throw unsafe(path, 'is not a regular file (expected a regular file)');
      throw again;
    }
  }
  try {
    if (created) {
      fchmodSync(fd, LOG_FILE_MODE);
      // As root for a --user daemon (`schedd start` opening the watchdog's log): made the user's.
      if (owner !== undefined && owner.uid !== process.geteuid?.()) fchownSync(fd, owner.uid, owner.gid);
      return fd;
    }
    const stat = fstatSync(fd);
    const uid = owner?.uid ?? process.geteuid?.() ?? stat.uid;
    if (!stat.isFile()) throw unsafe(path, 'is not a regular file (expected a regular file)');
    if (stat.nlink !== 1) throw unsafe(path, `has ${stat.nlink} links (expected 1)`);
    if (stat.uid !== uid) throw unsafe(path, `is owned by uid ${stat.uid} (expected ${uid})`);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function unsafe(path: string, problem: string): ScheddError {
  return new ScheddError('SCHEDD_LOG_UNSAFE', `log file ${path}: ${problem}`);
}

/** The log file is rotated to `<path>.1` (one kept) when it reaches this size. */
export const LOG_MAX_BYTES = 64 * 1024 * 1024;
/**
 * What the log leaves free on its file system for the run history: 10% of it, at least 8 MiB
 * (SQLite's journal grows to 4 MiB between checkpoints, and the database by its high-water
 * mark) and at most 64 MiB. On a file system smaller than the floor no job output is logged.
 */
const RESERVE_SHARE = 0.1;
const RESERVE_MIN_BYTES = 8 * 1024 * 1024;
const RESERVE_MAX_BYTES = 64 * 1024 * 1024;

export type FileCheck = { kind: 'ok'; lowSpace: boolean } | { kind: 'rotate' } | { kind: 'moved' };

/**
 * What the file behind `fd` needs, looked at once a second while records are written: rotation
 * once it reached maxBytes (if it is still the one at `path`), a reopen if the other schedd
 * process of the state directory rotated it to `<path>.1`, and whether its file system is short
 * of the room the run history needs.
 */
export function checkLogFile(fd: number, path: string, maxBytes: number): FileCheck {
  const own = fstatSync(fd);
  const at = (name: string): boolean => {
    try {
      const stat = lstatSync(name);
      return stat.ino === own.ino && stat.dev === own.dev;
    } catch {
      return false;
    }
  };
  const current = at(path);
  if (current && own.size >= maxBytes) return { kind: 'rotate' };
  if (!current && at(`${path}.1`)) return { kind: 'moved' };
  const fs = statfsSync(dirname(path));
  const reserve = Math.min(RESERVE_MAX_BYTES, Math.max(RESERVE_MIN_BYTES, fs.blocks * fs.bsize * RESERVE_SHARE));
  return { kind: 'ok', lowSpace: fs.bavail * fs.bsize < reserve };
}

/** Renames the log to `<path>.1`, replacing the previous one (rename never follows a link). */
export function rotateLogFile(path: string): void {
  renameSync(path, `${path}.1`);
}
