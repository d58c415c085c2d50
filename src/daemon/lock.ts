import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';

/**
 * One instance per state directory, with a lock that cannot go stale: a Linux abstract-namespace
 * socket named after the state directory. The kernel releases it when the process dies, however
 * it dies (kill -9 included), so there is never a lock file to remove by hand. The socket
 * accepts nothing; connecting to it only tells whether it is held.
 */

export type LockRole = 'scheduler' | 'watchdog';

export interface Lock {
  release(): void;
}

export function lockName(stateDir: string, role: LockRole): string {
  let dir = stateDir;
  try {
    dir = realpathSync(stateDir);
  } catch {
    // not created yet: the path as given
  }
  const digest = createHash('sha256').update(dir).digest('hex').slice(0, 40);
  return `\0schedd-${role}-${digest}`;
}

/** Takes the lock, or returns null when another live process holds it. */
export function acquireLock(stateDir: string, role: LockRole): Promise<Lock | null> {
  const server: Server = createServer((socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(null);
      else reject(error);
    });
    server.listen(lockName(stateDir, role), () => {
      // The lock must not keep a stopping process alive.
      server.unref();
      resolve({ release: () => server.close() });
    });
  });
}

/** True when some process holds the lock (without taking it). */
export function isLocked(stateDir: string, role: LockRole): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(lockName(stateDir, role));
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
