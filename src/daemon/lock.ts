import { createHash, randomBytes } from 'node:crypto';
import { closeSync, statSync, writeSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { ScheddError } from '../errors.js';
import { createStateFile, readStateFile } from '../state-file.js';
import { lockSecretPath as secretPath } from '../state-dir/paths.js';

/**
 * One instance per state directory, with a lock that cannot go stale: a Linux abstract-namespace
 * socket. The kernel releases it when the process dies, however it dies (kill -9 included), so
 * there is never a lock file to remove by hand. The socket accepts nothing; connecting to it
 * only tells whether it is held.
 *
 * Abstract sockets have no permissions: whoever binds a name first holds it. A name anyone can
 * compute (say, from the directory's path) lets any local user squat it and keep a root daemon
 * from starting. So the name comes from a random secret kept in `schedd.lock` (mode 0600) inside
 * the 0700 state directory, plus the directory's device and inode: only who can read the
 * directory can name the lock. The secret is created once, O_EXCL; a second starter racing the
 * first reads the winner's.
 */

export type LockRole = 'scheduler' | 'watchdog';

export interface Lock {
  release(): void;
}

const SECRET_CHARS = 64;
const SECRET_PATTERN = new RegExp(`^[0-9a-f]{${SECRET_CHARS}}$`);

/** The secret, waiting briefly for a racing creator to finish writing it; null when absent. */
async function readSecret(stateDir: string): Promise<string | null> {
  for (let tries = 0; ; tries++) {
    const text = readStateFile(secretPath(stateDir));
    if (text === null) return null;
    if (SECRET_PATTERN.test(text)) return text;
    // Its creator died between creating and writing it: a short secret would be guessable.
    if (tries >= 50) throw new ScheddError('SCHEDD_LOCK', `${secretPath(stateDir)}: refused: not a ${SECRET_CHARS}-character secret; remove it`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function ensureSecret(stateDir: string): Promise<string> {
  const fd = createStateFile(secretPath(stateDir), 0o600);
  if (fd === null) return (await readSecret(stateDir))!;
  const secret = randomBytes(SECRET_CHARS / 2).toString('hex');
  try {
    writeSync(fd, secret);
  } finally {
    closeSync(fd);
  }
  return secret;
}

function lockName(stateDir: string, role: LockRole, secret: string): string {
  const stat = statSync(stateDir);
  const digest = createHash('sha256').update(`${secret}\0${stat.dev}\0${stat.ino}`).digest('hex').slice(0, 40);
  return `\0schedd-${role}-${digest}`;
}

/** Takes the lock, or returns null when another live process holds it. */
export async function acquireLock(stateDir: string, role: LockRole): Promise<Lock | null> {
  const name = lockName(stateDir, role, await ensureSecret(stateDir));
  const server: Server = createServer((socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(null);
      else reject(error);
    });
    server.listen(name, () => {
      // The lock must not keep a stopping process alive.
      server.unref();
      resolve({ release: () => server.close() });
    });
  });
}

/** True when some process holds the lock (without taking it). */
export async function isLocked(stateDir: string, role: LockRole): Promise<boolean> {
  const secret = await readSecret(stateDir);
  // No secret, no lock was ever taken here (a daemon makes it before it locks).
  if (secret === null) return false;
  const name = lockName(stateDir, role, secret);
  return new Promise((resolve) => {
    const socket = createConnection(name);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
