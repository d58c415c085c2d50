import { readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The pidfile, for tools that expect one (logrotate scripts, monitoring). schedd itself never
 * trusts it alone: the lock says whether the daemon runs, and `stop` asks the daemon.
 */

export function pidfilePath(stateDir: string): string {
  return join(stateDir, 'schedd.pid');
}

export function writePidfile(stateDir: string, pid: number): void {
  const path = pidfilePath(stateDir);
  writeFileSync(`${path}.tmp`, `${pid}\n`, { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
}

export function readPidfile(stateDir: string): number | null {
  try {
    const pid = Number(readFileSync(pidfilePath(stateDir), 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

/** Removes the pidfile if it still names this process. */
export function removePidfile(stateDir: string, pid: number): void {
  if (readPidfile(stateDir) === pid) rmSync(pidfilePath(stateDir), { force: true });
}

export function socketPath(stateDir: string): string {
  return join(stateDir, 'schedd.sock');
}

export function logPath(stateDir: string): string {
  return join(stateDir, 'schedd.log');
}

export function historyPath(stateDir: string): string {
  return join(stateDir, 'history.db');
}
