import { spawn } from 'node:child_process';
import { closeSync, constants, fchownSync } from 'node:fs';
import { ScheddError } from '../errors.js';
import { createStateFile, openStateFile } from '../state-file.js';
import { logPath } from './pidfile.js';

/**
 * `schedd start` without --foreground: starts the watchdog in a new session (no controlling
 * terminal), working directory `/`, standard streams to /dev/null and the log file, and waits
 * on a pipe for the daemon's own word that it is up (crontab valid, lock held, socket
 * listening) or why it is not. No sleeping, no guessing.
 *
 * The state directory is already validated (and, with --user, the user's). The log, which this
 * process may open as root, is created O_EXCL with mode 0640 (handed to the user through its
 * descriptor when we made it), or opened without following a link and checked: never written
 * through something the user planted.
 */

const LOG_FLAGS = constants.O_WRONLY | constants.O_APPEND;

function openLogFile(path: string, owner: { uid: number; gid: number } | null): number {
  const created = createStateFile(path, 0o640, LOG_FLAGS);
  if (created !== null) {
    if (owner !== null && owner.uid !== process.geteuid?.()) fchownSync(created, owner.uid, owner.gid);
    return created;
  }
  const fd = openStateFile(path, LOG_FLAGS);
  // Removed between the two opens: try once more from the start.
  return fd ?? openLogFile(path, owner);
}

export interface Started {
  pid: number;
  schedulerPid: number;
}

export async function startDetached(cliPath: string, watchdogArgs: string[], stateDir: string, owner: { uid: number; gid: number } | null, env: NodeJS.ProcessEnv = process.env): Promise<Started> {
  const logFd = openLogFile(logPath(stateDir), owner);
  const child = spawn(process.execPath, [cliPath, '__watchdog', ...watchdogArgs], {
    detached: true,
    cwd: '/',
    stdio: ['ignore', logFd, logFd, 'pipe'],
    env,
  });
  closeSync(logFd);
  const pipe = child.stdio[3] as NodeJS.ReadableStream;
  let text = '';
  pipe.setEncoding('utf8');
  pipe.on('data', (chunk: string) => (text += chunk));
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
  await new Promise<void>((resolve) => pipe.once('end', resolve));
  const line = text.split('\n')[0] ?? '';
  child.unref();
  (pipe as unknown as { destroy(): void }).destroy();
  if (line === '') {
    const how = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('no answer'), 2000))]);
    throw new ScheddError('SCHEDD_START_FAILED', `the daemon exited during start-up (${how}); see ${logPath(stateDir)}`);
  }
  const message = JSON.parse(line) as { ok: boolean; pid?: number; schedulerPid?: number; message?: string };
  if (!message.ok) throw new ScheddError('SCHEDD_START_FAILED', message.message ?? 'the daemon did not start');
  return { pid: message.pid!, schedulerPid: message.schedulerPid! };
}
