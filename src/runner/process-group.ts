// Signalling a job's process group. Every job is spawned detached, so the shell's pid is also
// the id of a group holding the shell and everything it started (unless a descendant called
// setsid itself, which no group signal can reach).
import { existsSync, readdirSync, readFileSync } from 'node:fs';

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
 * True while any member of group `pid` is alive. A zombie is not: it has exited, and only its
 * parent (init, for an orphaned grandchild) has yet to reap it, which some inits (a container's
 * PID 1) do late or never. Members are looked up in /proc; without /proc, existing counts.
 */
export function isGroupAlive(pid: number): boolean {
  assertGroupId(pid);
  if (!groupExists(pid)) return false;
  // The leader (the job's shell) alive answers without a scan of every process.
  return processAlive(pid) || countLive(pid, 1) > 0;
}

/** True while group `pgid` has any member, zombies included: one kill(2). */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    // EPERM: members exist but belong to someone we may not signal.
    return errnoCode(err) === 'EPERM';
  }
}

/**
 * Whether a process still runs. A zombie does not: it has exited, and only its parent (init,
 * for a daemon or an orphaned job) has yet to reap it, which some inits do late.
 */
export function processAlive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
  const stat = processStat(pid);
  return stat === undefined || (stat !== null && stat.state !== 'Z');
}

/**
 * How many live (non-zombie) processes group `pgid` holds: 0 at the cost of one kill(2) when
 * the group is gone, the common case once a job's shell has exited; a scan of /proc otherwise.
 * Without /proc a group that exists counts as 1.
 */
export function liveMembers(pgid: number): number {
  assertGroupId(pgid);
  return groupExists(pgid) ? countLive(pgid, Number.POSITIVE_INFINITY) : 0;
}

/**
 * Calls `visit` with each live (non-zombie) process in /proc until it returns false; false
 * when there is no /proc to look in.
 */
function eachLiveProcess(visit: (pid: number, stat: ProcessStat) => boolean): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return false;
  }
  for (const entry of entries) {
    const first = entry.charCodeAt(0);
    if (first < 48 || first > 57) continue; // not a pid
    const stat = processStat(entry);
    if (stat && stat.state !== 'Z' && !visit(Number(entry), stat)) break;
  }
  return true;
}

/** Live members of the group found in /proc, counting up to `limit`; 1 without /proc. */
function countLive(pgid: number, limit: number): number {
  let count = 0;
  const scanned = eachLiveProcess((_, stat) => stat.pgrp !== pgid || ++count < limit);
  return scanned ? count : 1;
}

/** The live children of a process (none found without /proc). */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  eachLiveProcess((child, stat) => {
    if (stat.ppid === pid) children.push(child);
    return true;
  });
  return children;
}

/** A process's arguments from /proc/PID/cmdline; null when it is gone (or there is no /proc). */
export function commandLine(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return null;
  }
}

/** A process's state and ids from /proc/PID/stat. */
export interface ProcessStat {
  /** R, S, D, Z (zombie), T, ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Clock ticks after boot when it started (field 22): a pid and this name one process. */
  startTime: number;
}

/**
 * /proc/PID/stat of a process: null when the process is gone, undefined when there is no /proc
 * to ask. The one reader of it (the tests use it too).
 */
export function processStat(pid: number | string): ProcessStat | null | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    return errnoCode(err) === 'ENOENT' && existsSync('/proc/self') ? null : undefined;
  }
  // "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 20);
  const [state, ppid, pgrp, session] = fields;
  return { state: state!, ppid: Number(ppid), pgrp: Number(pgrp), session: Number(session), startTime: Number(fields[19]) };
}

export interface GroupTermination {
  /** Resolves once the group is gone ('exited') or SIGKILL was sent ('killed'). Never rejects. */
  done: Promise<'exited' | 'killed'>;
}

/**
 * SIGTERM (or `signal`) to the group, then polls until it is empty (every `pollMs` at first, backing off to
 * 500 ms, since a poll may scan /proc); if members remain after `graceMs`, SIGKILL. The timers
 * stay referenced: they must fire even after the shell has exited (a grandchild ignoring
 * SIGTERM), and they end within graceMs, so they cannot keep the process alive for long.
 */
export function terminateGroup(pid: number, graceMs: number, pollMs = 20, signal: NodeJS.Signals = 'SIGTERM'): GroupTermination {
  const done = new Promise<'exited' | 'killed'>((resolve) => {
    // Called from timers: an EPERM here must not become an uncaught exception in the daemon.
    const send = (signal: NodeJS.Signals): void => {
      try {
        killGroup(pid, signal);
      } catch {
        // Nothing more we can do; the grace timer still ends the wait.
      }
    };
    send(signal);
    let poll: NodeJS.Timeout;
    const deadline = setTimeout(() => {
      clearTimeout(poll);
      if (isGroupAlive(pid)) {
        send('SIGKILL');
        resolve('killed');
      } else {
        resolve('exited');
      }
    }, graceMs);
    const check = (waitMs: number): void => {
      poll = setTimeout(() => {
        if (isGroupAlive(pid)) return check(Math.min(500, waitMs * 2));
        clearTimeout(deadline);
        resolve('exited');
      }, waitMs);
    };
    check(pollMs);
  });
  return { done };
}
