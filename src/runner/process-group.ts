// Signalling a job's process group. Every job is spawned detached, so the shell's pid is also
// the id of a group holding the shell and everything it started (unless a descendant called
// setsid itself, which no group signal can reach).

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function assertGroupId(pid: number): void {
  // kill(-0) or kill(-1) would signal our own group or every process we may signal.
  if (!Number.isInteger(pid) || pid <= 1) {
    throw new RangeError(`process group id must be an integer > 1, got ${pid}`);
  }
}

/**
 * Sends `signal` to every process in group `pid`. Returns false when the group no longer
 * exists (ESRCH); other errors (EPERM) are thrown.
 */
export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  assertGroupId(pid);
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ESRCH') return false;
    throw err;
  }
}

/**
 * True while any member of group `pid` exists. Zombies count as members until reaped, so a
 * group whose orphans are never reaped stays "alive"; callers bound their wait with a timer.
 */
export function isGroupAlive(pid: number): boolean {
  assertGroupId(pid);
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    // EPERM: members exist but belong to someone we may not signal.
    return errnoCode(err) !== 'ESRCH';
  }
}

export interface GroupTermination {
  /** Resolves once the group is gone ('exited') or SIGKILL was sent ('killed'). Never rejects. */
  done: Promise<'exited' | 'killed'>;
}

/**
 * SIGTERM to the group, then polls until it is empty; if members remain after `graceMs`,
 * SIGKILL. The poll and grace timers stay referenced: they must fire even after the shell has
 * exited (a grandchild ignoring SIGTERM), and they end within graceMs, so they cannot keep the
 * process alive for long.
 */
export function terminateGroup(pid: number, graceMs: number, pollMs = 20): GroupTermination {
  const done = new Promise<'exited' | 'killed'>((resolve) => {
    // Called from timers: an EPERM here must not become an uncaught exception in the daemon.
    const send = (signal: NodeJS.Signals): void => {
      try {
        killGroup(pid, signal);
      } catch {
        // Nothing more we can do; the grace timer still ends the wait.
      }
    };
    send('SIGTERM');
    const deadline = setTimeout(() => {
      clearInterval(poll);
      if (isGroupAlive(pid)) {
        send('SIGKILL');
        resolve('killed');
      } else {
        resolve('exited');
      }
    }, graceMs);
    const poll = setInterval(() => {
      if (isGroupAlive(pid)) return;
      clearTimeout(deadline);
      clearInterval(poll);
      resolve('exited');
    }, pollMs);
  });
  return { done };
}
