import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { ScheddError } from '../errors.js';
import { openLogFile } from '../log-file.js';
import { logPath } from '../state-dir/paths.js';

/**
 * `schedd start` without --foreground: starts the watchdog in a new session (no controlling
 * terminal), working directory `/`, standard streams to /dev/null and the log file, and waits
 * on a pipe for the daemon's own word that it is up (crontab valid, lock held, socket
 * listening) or why it is not. No sleeping, no guessing.
 *
 * The state directory is already validated (and, with --user, the user's). The log, which this
 * process may open as root, is opened as the daemon opens it (openLogFile: created O_EXCL, or
 * never through a link, and checked), and handed to the user through its descriptor when we
 * made it: never written through something the user planted.
 */

/**
 * Node flags of the watchdog process. It waits on its child and runs nothing hot, so it needs
 * no JIT (no compiled code kept; --no-expose-wasm, else Node warns in the log that --jitless
 * turns WebAssembly off) and no large young generation (Node's default lets it grow to 48 MB).
 */
export const WATCHDOG_NODE_FLAGS: readonly string[] = ['--jitless', '--no-expose-wasm', '--max-semi-space-size=1'];

export interface Started {
  pid: number;
  schedulerPid: number;
}

export async function startDetached(cliPath: string, watchdogArgs: string[], stateDir: string, owner: { uid: number; gid: number } | null, env: NodeJS.ProcessEnv = process.env): Promise<Started> {
  const logFd = openLogFile(logPath(stateDir), owner ?? undefined);
  const child = spawn(process.execPath, [...WATCHDOG_NODE_FLAGS, cliPath, '__watchdog', ...watchdogArgs], {
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
