import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ScheddError } from '../errors.js';
import type { Diagnostic, ParsedCrontab } from '../crontab/types.js';
import { unsafeWalk } from '../safe-path.js';

/**
 * The largest crontab read. The bench's 100,000-job crontab is about 13 MiB; a file past this
 * is refused before it is read, so a flood (one 50 MB line) costs no memory.
 */
export const MAX_CRONTAB_BYTES = 16 * 1024 * 1024;

const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Reads a crontab file, turning the usual failures into one clear line. Every command that
 * reads a crontab (start, reload, check, list, edit) comes here, so they accept and refuse the
 * same files.
 *
 * The file is opened once and everything is judged from that descriptor: its fstat (owner,
 * mode, kind, size) and its bytes. A check by path followed by a read by path lets whoever can
 * write the directory swap the file in between (renameat2 RENAME_EXCHANGE). Links are
 * followed (a Kubernetes ConfigMap is a chain of them), and every directory the lookup passes
 * through, each link's included, down to the file's own, must pass the OpenSSH rule
 * (safe-path.ts unsafeWalk): nobody else can then have swapped what was opened.
 */
export async function readCrontabText(path: string, name = path, options: ReadOptions = {}): Promise<string> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted as the crontab must not hang the daemon on open.
    handle = await open(path, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch (error) {
    throw unreadable(path, error);
  }
  try {
    const stat = await handle.stat();
    const refusal = refuse(path, name, stat, options.forEditing === true);
    if (refusal !== null) throw new ScheddError('SCHEDD_CRONTAB_REFUSED', refusal);
    return await readBounded(handle, path, name);
  } finally {
    await handle.close();
  }
}

export interface ReadOptions {
  /**
   * `schedd edit`: root may edit a crontab that is not root's (edit keeps its owner). Its jobs
   * would not run as root anyway: start and reload still refuse such a file.
   */
  forEditing?: boolean;
}

/** Why this opened file must not be trusted, or null. */
function refuse(path: string, name: string, stat: Stats, forEditing: boolean): string | null {
  if (stat.isDirectory()) return `cannot read crontab ${path}: is a directory, not a crontab file`;
  if (!stat.isFile()) return `${name}: refused: not a regular file (expected a crontab file)`;
  const euid = process.geteuid?.() ?? -1;
  // cron's rule for the files it runs as root. As root every crontab qualifies: an entry runs
  // as root unless it says otherwise, and whoever can write the file decides what it says
  // (user= included), so the rule is on the file, not on its entries. With --user the daemon
  // has dropped root before it reads the crontab, and its jobs cannot run as root.
  if (euid === 0 && !forEditing) {
    if (stat.uid !== 0) return `${name}: refused: owned by uid ${stat.uid} (expected root: a root schedd runs only root's crontabs, as cron does)`;
    if ((stat.mode & 0o022) !== 0) return `${name}: refused: group- or world-writable (mode ${(stat.mode & 0o777).toString(8)}; expected no write bit for them: chmod go-w it)`;
  }
  if (stat.size > MAX_CRONTAB_BYTES) return tooBig(name, stat.size);
  // Root editing another user's file installs it as root: only directories no one else can
  // change, or they could swap a directory for a link to /etc/schedd while the editor is open.
  const owners = euid === 0 && forEditing ? [0] : [stat.uid, euid];
  // Whoever can change a directory on the way (a link's included) can swap the crontab for
  // their own between two reads, or point a link at another file.
  const problem = unsafeWalk(resolve(path), owners);
  if (problem === null) return null;
  return euid === 0 && forEditing && stat.uid !== 0
    ? `${name}: refused: directory ${problem}; edit it as its owner (su - USER -c 'schedd edit -c FILE')`
    : `${name}: refused: directory ${problem}`;
}

/** Reads at most MAX_CRONTAB_BYTES (the file may grow after its fstat): more is refused. */
export async function readBounded(handle: FileHandle, path: string, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, MAX_CRONTAB_BYTES + 1 - total));
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
    } catch (error) {
      throw unreadable(path, error);
    }
    if (bytesRead === 0) break;
    chunks.push(buffer.subarray(0, bytesRead));
    total += bytesRead;
    if (total > MAX_CRONTAB_BYTES) throw new ScheddError('SCHEDD_CRONTAB_REFUSED', tooBig(name, total, true));
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

function tooBig(name: string, bytes: number, atLeast = false): string {
  return `${name}: file is ${atLeast ? 'more than ' : ''}${mib(bytes)} (expected at most ${mib(MAX_CRONTAB_BYTES)})`;
}

function mib(bytes: number): string {
  const value = bytes / (1024 * 1024);
  return `${Number.isInteger(value) ? value : value.toFixed(1)} MiB`;
}

function unreadable(path: string, error: unknown): ScheddError {
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file (create it, or name another with -c FILE)'
      : code === 'EACCES'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory, not a crontab file'
          : (error as Error).message;
  return new ScheddError('SCHEDD_CRONTAB_UNREADABLE', `cannot read crontab ${path}: ${why}`, { cause: error });
}

/** `FILE:LINE:COL: message (expected ...)`, with `warning: ` before warnings. */
export function formatDiagnostic(file: string, d: Diagnostic): string {
  const expected = d.expected === undefined ? '' : ` (expected ${d.expected})`;
  const severity = d.severity === 'warning' ? 'warning: ' : '';
  return `${file}:${d.line}:${d.col}: ${severity}${d.message}${expected}`;
}

/** Errors in the file, counting those the parser did not keep (see ParsedCrontab.omitted). */
export function errorCount(parsed: ParsedCrontab): number {
  return parsed.diagnostics.filter((d) => d.severity === 'error').length + (parsed.omitted?.errors ?? 0);
}

/** How many errors a log gets in full before the rest are only counted. */
export const LOGGED_ERRORS = 20;

/** The first LOGGED_ERRORS of `errors`, then `... and N more errors` for the rest. */
export function firstErrors(errors: readonly string[], total = errors.length): string[] {
  const shown = errors.slice(0, LOGGED_ERRORS);
  const more = total - shown.length;
  if (more > 0) shown.push(`... and ${more.toLocaleString('en-US')} more error${more === 1 ? '' : 's'}`);
  return shown;
}
