import { fileURLToPath } from 'node:url';
import { startDetached } from '../daemon/detach.js';
import { logPath } from '../daemon/pidfile.js';
import { runService, type Readiness } from '../daemon/service.js';
import { runWatchdog } from '../daemon/watchdog.js';
import { ExitCode, ScheddError } from '../errors.js';
import { createLog, type Log, type LogLevel } from '../log.js';

export interface StartOptions {
  crontabPath: string;
  crontabName: string;
  stateDir: string;
  system: boolean;
  logLevel: LogLevel;
  /** Human-readable logs; defaults to whether stdout is a terminal. */
  pretty?: boolean;
  cleanEnv: boolean;
  maxConcurrent: number | null;
  killGraceMs: number;
  stopGraceMs: number;
  user?: string;
  keepRuns?: number;
  keepDays?: number;
}

const CLI_PATH = fileURLToPath(new URL('../../../bin/schedd.js', import.meta.url));

/** The options again as arguments, every path absolute (the daemon runs in `/`). */
export function serviceArgs(options: StartOptions): string[] {
  const args = ['-c', options.crontabPath, '--crontab-name', options.crontabName, '--state-dir', options.stateDir, '--log-level', options.logLevel];
  args.push('--kill-grace', `${options.killGraceMs}ms`, '--stop-grace', `${options.stopGraceMs}ms`);
  if (options.system) args.push('--system');
  if (options.cleanEnv) args.push('--clean-env');
  if (options.maxConcurrent !== null) args.push('--max-concurrent', String(options.maxConcurrent));
  if (options.user !== undefined) args.push('--user', options.user);
  if (options.keepRuns !== undefined) args.push('--keep-runs', String(options.keepRuns));
  if (options.keepDays !== undefined) args.push('--keep-days', String(options.keepDays));
  return args;
}

function flush(log: Log): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}

/** `schedd start`: detached by default; `--foreground` runs the scheduler in this process. */
export async function startCommand(options: StartOptions & { foreground: boolean }): Promise<number> {
  if (!options.foreground) {
    const started = await startDetached(CLI_PATH, serviceArgs(options), options.stateDir);
    process.stdout.write(`schedd started (pid ${started.pid}); log: ${logPath(options.stateDir)}\n`);
    return ExitCode.ok;
  }
  const log = createLog({ level: options.logLevel, pretty: options.pretty ?? process.stdout.isTTY === true });
  try {
    return await runService({ ...options, log, mode: 'foreground', restarts: 0, pidfilePid: process.pid }, () => undefined);
  } catch (error) {
    if (error instanceof ScheddError) throw error;
    throw new ScheddError('SCHEDD_START_FAILED', `cannot start: ${(error as Error).message}`, { cause: error });
  } finally {
    await flush(log);
  }
}

/** Internal: the watchdog process of detached mode (fd 3 is the readiness pipe). */
export async function watchdogCommand(options: StartOptions): Promise<number> {
  process.umask(0o027);
  const log = createLog({ level: options.logLevel, pretty: false, file: logPath(options.stateDir) });
  try {
    return await runWatchdog({ stateDir: options.stateDir, log, schedulerArgv: [CLI_PATH, '__scheduler', ...serviceArgs(options)], readyFd: 3 });
  } finally {
    await flush(log);
  }
}

/** Internal: the scheduler process of detached mode, a child of the watchdog. */
export async function schedulerCommand(options: StartOptions): Promise<number> {
  process.umask(0o027);
  const log = createLog({ level: options.logLevel, pretty: false, file: logPath(options.stateDir) });
  // The watchdog may be gone (killed): then there is nobody to tell, and send() would throw.
  const ready: Readiness = (message) => {
    if (process.connected) process.send!(message.ok ? { type: 'ready', pid: message.pid } : { type: 'failed', message: message.message });
  };
  try {
    const restarts = Number(process.env.SCHEDD_RESTARTS ?? 0);
    const pidfilePid = Number(process.env.SCHEDD_PIDFILE_PID ?? process.ppid);
    return await runService({ ...options, log, mode: 'detached', restarts, pidfilePid }, ready);
  } catch (error) {
    log.fatal({ err: error }, `scheduler failed: ${(error as Error).message}`);
    return ExitCode.failure;
  } finally {
    await flush(log);
    if (process.connected) process.disconnect();
  }
}
