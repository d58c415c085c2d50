import { readFileSync, statSync } from 'node:fs';
import { call } from '../control/client.js';
import { isLocked } from '../daemon/lock.js';
import { commandLine, processAlive } from '../runner/process-group.js';
import { readPidfile } from '../daemon/pidfile.js';
import { checkStateDirForClient } from '../state-dir/check.js';
import { socketPath } from '../state-dir/paths.js';
import { ExitCode, ScheddError } from '../errors.js';

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/**
 * True when /proc says this pid is a schedd run by the state directory's owner, so neither a
 * recycled pid nor a pid that the owner wrote into the pidfile (a --user account naming one of
 * root's processes) is ever signalled by a root `schedd stop`.
 */
function isSchedd(pid: number, ownerUid: number): boolean {
  try {
    if (commandLine(pid)?.some((arg) => arg.includes('schedd')) !== true) return false;
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return uids !== null && Number(uids[1]) === ownerUid && Number(uids[2]) === ownerUid;
  } catch {
    return false;
  }
}

/**
 * `schedd stop`: asks the daemon over its socket, then waits until its process has exited.
 * A daemon that does not answer is signalled only if it still holds the lock and its pid is
 * really a schedd. Not running is success ("not running").
 */
export async function stopCommand(stateDir: string, options: { timeoutMs: number; quiet?: boolean }): Promise<number> {
  const say = (text: string): void => void (options.quiet ? undefined : process.stdout.write(`${text}\n`));
  // A directory someone else controls could answer for the daemon, or name any pid to signal.
  checkStateDirForClient(stateDir);
  let pid: number;
  try {
    const reply = await call(socketPath(stateDir), { cmd: 'stop' });
    // The reply comes from whoever serves the socket: a pid it names is shown and waited on.
    if (!Number.isInteger(reply.pid) || reply.pid < 1) throw new ScheddError('SCHEDD_PROTOCOL', `the daemon answered stop without a valid pid; check ${stateDir}`);
    pid = reply.pid;
  } catch (error) {
    if (error instanceof ScheddError && error.code === 'SCHEDD_PROTOCOL') throw error;
    if (!(error instanceof ScheddError)) throw error;
    const locked = (await isLocked(stateDir, 'watchdog')) || (await isLocked(stateDir, 'scheduler'));
    const pidfilePid = readPidfile(stateDir);
    if (!locked) {
      say('not running');
      return ExitCode.ok;
    }
    if (pidfilePid === null || !isSchedd(pidfilePid, statSync(stateDir).uid)) {
      throw new ScheddError('SCHEDD_STOP', `the daemon does not answer (${error.message}) and its pidfile names no schedd process; check ${stateDir}`);
    }
    process.kill(pidfilePid, 'SIGTERM');
    pid = pidfilePid;
  }
  say(`stopping schedd (pid ${pid})...`);
  if (!(await waitForExit(pid, options.timeoutMs))) {
    throw new ScheddError('SCHEDD_STOP_TIMEOUT', `schedd (pid ${pid}) is still running after ${Math.round(options.timeoutMs / 1000)} s; it may be waiting for jobs (see --stop-grace)`);
  }
  say('stopped');
  return ExitCode.ok;
}
