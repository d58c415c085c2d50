import { constants, type Stats } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Who is on the other end of crontab.sock. Node cannot read SO_PEERCRED, so the caller proves
 * who they are by writing a file: only uid U can create a file owned by U. The daemon sends a
 * fresh nonce; the client makes a private directory in /tmp (mkdtemp, 0700) and in it a file
 * (0600) holding proofText(nonce, request), and sends its path. The daemon believes "this is
 * uid U" only if that path names, without side effects and without following a link:
 *
 * - exactly `/tmp/DIR/FILE` (plain names): no /proc/self/fd/N (the daemon's own descriptors),
 *   no device (/dev/watchdog fires on open), no path through another filesystem that could
 *   stall the daemon; the lookup goes through /tmp's descriptor, then DIR's;
 * - DIR: a real directory (opened O_PATH|O_NOFOLLOW, so a link is refused) on /tmp's own
 *   filesystem, owned by U, no access for group or others;
 * - FILE: opened O_PATH|O_NOFOLLOW (no side effect even for a FIFO or a device: O_PATH does
 *   not open the object), then judged by fstat: a regular file on the same filesystem, owned
 *   by U, one link (no hard link to someone else's file), no bits for group or others, small;
 *   only then read, through /proc/self/fd/N of that very descriptor (the inode judged is the
 *   inode read), and equal to the expected text, which no one else could know in advance.
 *
 * Root (uid 0) is refused: root edits the spool directly, and a root table is the one prize
 * worth forging a proof for.
 */

/** Linux's O_PATH (Node has no constant for it). */
export const O_PATH = 0o10000000;
const PROOF_DIR = '/tmp';
const MAX_PROOF_BYTES = 1024;
const PLAIN_NAME = /^(?!\.\.?$)[A-Za-z0-9._-]{1,128}$/;

export type ProofCheck = { ok: true; uid: number } | { ok: false; reason: string };

function privateTo(stat: Stats, uid: number): boolean {
  return stat.uid === uid && (stat.mode & 0o077) === 0;
}

export async function verifyProof(path: string, expected: string): Promise<ProofCheck> {
  const parts = path.split('/');
  if (parts.length !== 4 || parts[0] !== '' || `/${parts[1]}` !== PROOF_DIR || !PLAIN_NAME.test(parts[2]!) || !PLAIN_NAME.test(parts[3]!)) {
    return { ok: false, reason: `not of the form ${PROOF_DIR}/DIR/FILE` };
  }
  const handles: FileHandle[] = [];
  const openPath = async (at: string, flags: number): Promise<FileHandle> => {
    const handle = await open(at, flags);
    handles.push(handle);
    return handle;
  };
  try {
    const tmp = await openPath(PROOF_DIR, O_PATH | constants.O_DIRECTORY);
    const tmpStat = await tmp.stat();
    const dir = await openPath(`/proc/self/fd/${tmp.fd}/${parts[2]}`, O_PATH | constants.O_NOFOLLOW | constants.O_DIRECTORY);
    const dirStat = await dir.stat();
    const file = await openPath(`/proc/self/fd/${dir.fd}/${parts[3]}`, O_PATH | constants.O_NOFOLLOW);
    const stat = await file.stat();
    if (!stat.isFile()) return { ok: false, reason: 'not a regular file' };
    if (stat.uid === 0) return { ok: false, reason: "root's file (root edits the spool directly)" };
    if (dirStat.dev !== tmpStat.dev || stat.dev !== tmpStat.dev) return { ok: false, reason: `not on ${PROOF_DIR}'s filesystem` };
    if (!privateTo(dirStat, stat.uid)) return { ok: false, reason: 'its directory is not private to its owner (expected mode 700, same owner)' };
    if (!privateTo(stat, stat.uid)) return { ok: false, reason: 'readable or writable by group or others (expected mode 600)' };
    if (stat.nlink !== 1) return { ok: false, reason: `${stat.nlink} hard links (expected 1)` };
    if (stat.size > MAX_PROOF_BYTES) return { ok: false, reason: 'too large' };
    const content = await openPath(`/proc/self/fd/${file.fd}`, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const read = await content.stat();
    const buffer = Buffer.alloc(MAX_PROOF_BYTES + 1);
    const { bytesRead } = await content.read(buffer, 0, buffer.length, 0);
    const after = await file.stat();
    // The same inode, not changed meanwhile (its owner cannot change, but its mode or links could).
    if (read.ino !== stat.ino || read.dev !== stat.dev || after.uid !== stat.uid || after.nlink !== 1 || (after.mode & 0o077) !== 0) return { ok: false, reason: 'changed while read' };
    if (buffer.subarray(0, bytesRead).toString('utf8') !== expected) return { ok: false, reason: "does not hold this connection's proof" };
    return { ok: true, uid: stat.uid };
  } catch (error) {
    return { ok: false, reason: (error as NodeJS.ErrnoException).code ?? (error as Error).message };
  } finally {
    await Promise.all(handles.map((handle) => handle.close().catch(() => {})));
  }
}

/** The client's side: the proof in a fresh private directory of /tmp; remove() when done. */
export async function writeProof(text: string): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(PROOF_DIR, 'schedd-crontab-'));
  const path = join(dir, 'proof');
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(text, 'utf8');
  } finally {
    await handle.close();
  }
  return { path, remove: () => rm(dir, { recursive: true, force: true }) };
}
