import { startDetached } from '../daemon/detach.js';
import { logPath } from '../state-dir/paths.js';
import { dropPrivileges } from '../daemon/privileges.js';
import { runService, type Readiness } from '../daemon/service.js';
import { ExitCode, ScheddError } from '../errors.js';
import { createLog } from '../log.js';
import { toArgv, type DaemonConfig } from '../config.js';
import { CLI_PATH, flush, prepare } from './daemon-setup.js';

/** `schedd start`: detached by default; `--foreground` runs the scheduler in this process. */
export async function startCommand(given: DaemonConfig & { foreground: boolean }): Promise<number> {
  const { options, account } = prepare(given, true);
  if (!given.foreground) {
    const started = await startDetached(CLI_PATH, toArgv(options), options.stateDir, account);
    process.stdout.write(`schedd started (pid ${started.pid}); log: ${logPath(options.stateDir)}\n`);
    return ExitCode.ok;
  }
  if (account !== null) dropPrivileges(account);
  const log = createLog({ level: options.logLevel, pretty: options.pretty ?? process.stdout.isTTY === true });
  try {
    const { user: _, ...rest } = options;
    return await runService({ ...rest, log, mode: 'foreground', restarts: 0, pidfilePid: process.pid }, () => undefined);
  } catch (error) {
    if (error instanceof ScheddError) throw error;
    throw new ScheddError('SCHEDD_START_FAILED', `cannot start: ${(error as Error).message}`, { cause: error });
  } finally {
    await flush(log);
  }
}

/** Internal: the scheduler process of detached mode, a child of the watchdog (already the --user account). */
export async function schedulerCommand(given: DaemonConfig): Promise<number> {
  process.umask(0o027);
  let options: DaemonConfig;
  try {
    options = prepare(given, false).options;
  } catch (error) {
    if (process.connected) process.send!({ type: 'failed', message: (error as Error).message });
    process.stderr.write(`schedd: ${(error as Error).message}\n`);
    return ExitCode.failure;
  }
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
