import { closeSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startDetached } from '../daemon/detach.js';
import { logPath } from '../state-dir/paths.js';
import { lookupAccount, type Account } from '../accounts.js';
import { dropPrivileges } from '../daemon/privileges.js';
import { prepareStateDir } from '../state-dir/check.js';
import { runService, type Readiness } from '../daemon/service.js';
import { runWatchdog } from '../daemon/watchdog.js';
import { ExitCode, ScheddError } from '../errors.js';
import { createLog, type Log } from '../log.js';
import { toArgv, type DaemonConfig } from '../config.js';

const CLI_PATH = fileURLToPath(new URL('../../../bin/schedd.js', import.meta.url));

function flush(log: Log): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}

/** The `--user` account (null without --user); refused unless we are root. */
function daemonAccount(user: string | undefined): Account | null {
  if (user === undefined) return null;
  if (process.geteuid?.() !== 0) throw new ScheddError('SCHEDD_USER', `--user needs schedd to be started as root (running as uid ${process.geteuid?.()})`);
  const account = lookupAccount(user);
  if (account === null) throw new ScheddError('SCHEDD_USER', `--user ${user}: no such user`);
  return account;
}

/**
 * The state directory, created if need be and validated for the daemon's user, by its real
 * path from then on. With --user, privileges are dropped right after (the foreground) or by the
 * watchdog before it opens anything (detached): no root process writes in the user's directory.
 */
function prepare(options: DaemonConfig, create: boolean): { options: DaemonConfig; account: Account | null } {
  const account = daemonAccount(options.user);
  const stateDir = prepareStateDir(options.stateDir, { create, ...(account === null ? {} : { owner: { uid: account.uid, gid: account.gid } }) });
  return { options: { ...options, stateDir }, account };
}

/** `schedd start`: detached by default; `--foreground` runs the scheduler in this process. */
export async function startCommand(given: DaemonConfig & { foreground: boolean }): Promise<number> {
  const { options, account } = prepare(given, true);
  if (!given.foreground) {
    const started = await startDetached(CLI_PATH, toArgv(options), options.stateDir, account);
    process.stdout.write(`schedd started (pid ${started.pid}); log: ${logPath(options.stateDir)}\n`);
    return ExitCode.ok;
  }
  if (account !== null) dropPrivileges(account.name);
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

/** Internal: the watchdog process of detached mode (fd 3 is the readiness pipe). */
export async function watchdogCommand(given: DaemonConfig): Promise<number> {
  process.umask(0o027);
  let options: DaemonConfig;
  try {
    const prepared = prepare(given, false);
    // Before the log or anything else is opened: the restarted scheduler is the user's too.
    if (prepared.account !== null) dropPrivileges(prepared.account.name);
    const { user: _, ...rest } = prepared.options;
    options = rest;
  } catch (error) {
    // Nothing to log to yet: `schedd start` prints the reason.
    try {
      writeSync(3, `${JSON.stringify({ ok: false, message: (error as Error).message })}\n`);
      closeSync(3);
    } catch {
      // `schedd start` went away.
    }
    return ExitCode.failure;
  }
  const log = createLog({ level: options.logLevel, pretty: false, file: logPath(options.stateDir) });
  try {
    return await runWatchdog({ config: options, cliPath: CLI_PATH, log, readyFd: 3 });
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
