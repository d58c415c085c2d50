import { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, readSync, renameSync, rmSync, writeSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { ScheddError } from './errors.js';

/**
 * Files in the state directory, opened so that nothing planted there is followed: O_NOFOLLOW
 * (a link is refused, not written through), O_NONBLOCK (a FIFO cannot hang the opener), and
 * the descriptor checked with fstat (a regular file with one link, owned by the directory's
 * owner). New files are created O_EXCL and get their mode through fchmod on the descriptor, so
 * the umask of whoever started schedd does not decide it.
 */

const SAFE = constants.O_NOFOLLOW | constants.O_NONBLOCK;

function refused(path: string, what: string, cause?: unknown): ScheddError {
  return new ScheddError('SCHEDD_STATE_FILE', `${path}: refused: ${what}; remove it`, cause === undefined ? {} : { cause });
}

/** Why an opened state file is not what schedd made (a regular file with one link, the state directory owner's), or null. */
export function stateFileProblem(path: string, stat: Stats): string | null {
  const ownerUid = lstatSync(dirname(path)).uid;
  if (!stat.isFile()) return 'not a regular file (expected one)';
  if (stat.nlink !== 1) return `${stat.nlink} hard links (expected 1)`;
  if (stat.uid !== ownerUid) return `owned by uid ${stat.uid} (expected ${ownerUid}, the state directory's owner)`;
  return null;
}

/** Checks an open state file; closes it and throws when it is not what schedd made. */
export function verifyOpen(path: string, fd: number): number {
  const problem = stateFileProblem(path, fstatSync(fd));
  if (problem === null) return fd;
  closeSync(fd);
  throw refused(path, problem);
}

/** Opens an existing state file (flags besides O_NOFOLLOW); null when it does not exist. */
export function openStateFile(path: string, flags: number): number | null {
  let fd: number;
  try {
    fd = openSync(path, flags | SAFE);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw refused(path, 'a symbolic link (expected a regular file)', error);
    if (code === 'ENXIO') throw refused(path, 'a FIFO or socket (expected a regular file)', error);
    throw error;
  }
  return verifyOpen(path, fd);
}

/** Creates a new state file with exactly `mode`; null when it exists already. */
export function createStateFile(path: string, mode: number, flags = constants.O_WRONLY): number | null {
  let fd: number;
  try {
    fd = openSync(path, flags | constants.O_CREAT | constants.O_EXCL | SAFE, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw error;
  }
  fchmodSync(fd, mode);
  return fd;
}

/** The text of a state file, or null when there is none. */
export function readStateFile(path: string): string | null {
  const fd = openStateFile(path, constants.O_RDONLY);
  if (fd === null) return null;
  try {
    const chunks: Buffer[] = [];
    const buffer = Buffer.alloc(4096);
    // State files are a few bytes; 64 KiB is more than any of them may hold.
    for (let total = 0; total < 65536; ) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, n)));
      total += n;
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Replaces a state file atomically: a fresh O_EXCL temp file (our pid in its name), then rename. */
export function writeStateFile(path: string, text: string, mode: number): void {
  const temp = `${path}.${process.pid}.tmp`;
  // One left by a process of ours that died with this pid: ours to remove (rm does not follow links).
  rmSync(temp, { force: true });
  const fd = createStateFile(temp, mode);
  if (fd === null) throw refused(temp, 'created by someone else meanwhile');
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}
