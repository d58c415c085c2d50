import { rmSync } from 'node:fs';
import { commandLine } from '../runner/process-group.js';
import { readStateFile, writeStateFile } from '../state-file.js';
import { pidfilePath } from '../state-dir/paths.js';

/**
 * The pidfile, for tools that expect one (logrotate scripts, monitoring). schedd itself never
 * trusts it alone: the lock says whether the daemon runs, and `stop` asks the daemon. Mode 0644
 * (whatever the umask), as pidfiles commonly are; only the process it names removes it.
 */

export function writePidfile(stateDir: string, pid: number): void {
  writeStateFile(pidfilePath(stateDir), `${pid}\n`, 0o644);
}

export function readPidfile(stateDir: string): number | null {
  try {
    const pid = Number(readStateFile(pidfilePath(stateDir))?.trim() ?? '');
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

/** Removes the pidfile if it still names this process. */
export function removePidfile(stateDir: string, pid: number): void {
  if (readPidfile(stateDir) === pid) rmSync(pidfilePath(stateDir), { force: true });
}

/** True when `pid` is a detached scheduler: named by the pidfile only once its watchdog died. */
function isScheduler(pid: number): boolean {
  return commandLine(pid)?.includes('__scheduler') === true;
}

/** Why a second daemon does not start, naming the one that runs (and an orphan as such). */
export function alreadyRunning(stateDir: string): string {
  const pid = readPidfile(stateDir);
  if (pid !== null && isScheduler(pid)) return `already running (pid ${pid}, unsupervised since its watchdog exited; schedd restart supervises it again)`;
  return `already running${pid === null ? '' : ` (pid ${pid})`} with state directory ${stateDir}`;
}
