import { Daemon, type DaemonOptions } from './daemon.js';
import { acquireLock, type Lock } from './lock.js';
import { readPidfile, removePidfile, socketPath, writePidfile } from './pidfile.js';
import { dropPrivileges, lookupAccount } from './privileges.js';
import { controlHandler } from './control-handler.js';
import { startControlServer, type ControlServer } from '../control/server.js';
import { ScheddError } from '../errors.js';
import type { Log } from '../log.js';
import { chmodSync, chownSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The scheduler process: takes the instance lock, installs the crontab, opens the control
 * socket, then runs until told to stop. In the foreground it is the process the user started;
 * in detached mode it is the watchdog's child and reports readiness over the IPC channel.
 */

export interface ServiceOptions extends Omit<DaemonOptions, 'log'> {
  log: Log;
  mode: 'foreground' | 'detached';
  /** Drop to this user after the socket, log and state files are open (when root). */
  user?: string;
  /** Watchdog restarts so far (detached mode), for status. */
  restarts: number;
  /** The pid `stop` signals: the watchdog's in detached mode, our own in the foreground. */
  pidfilePid: number;
}

/** Where a starting scheduler says how it went (the IPC channel in detached mode). */
export type Readiness = (message: { ok: true; pid: number } | { ok: false; message: string }) => void;

export async function runService(options: ServiceOptions, ready: Readiness): Promise<number> {
  const { log, stateDir } = options;
  let lock: Lock | null = null;
  let server: ControlServer | null = null;
  let stopRequested: ((reason: string) => void) | null = null;
  const onSignal = (signal: NodeJS.Signals): void => stopRequested?.(signal);
  let reloadFor: ((source: string) => void) | null = null;
  // A SIGHUP before the daemon can reload (still starting) is kept and applied once it can.
  let hupPending = false;
  const onHup = (): void => {
    if (reloadFor === null) hupPending = true;
    else reloadFor('SIGHUP');
  };
  const onUsr2 = (): void => {
    log.reopen();
    log.info({ reason: 'SIGUSR2' }, 'log reopened');
  };
  let onDisconnect = (): void => undefined;
  try {
    // Installed first: without a listener SIGHUP and SIGUSR2 terminate the process, and a
    // supervisor may send them as soon as schedd says it started (systemctl reload, logrotate).
    process.on('SIGHUP', onHup);
    process.on('SIGUSR2', onUsr2);
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    chmodSync(stateDir, 0o700);
    lock = await acquireLock(stateDir, 'scheduler');
    if (lock === null) {
      const pid = readPidfile(stateDir);
      throw new ScheddError('SCHEDD_ALREADY_RUNNING', `already running${pid === null ? '' : ` (pid ${pid})`} with state directory ${stateDir}`);
    }
    const daemon = new Daemon(options);
    let stopping = false;
    const stopped = new Promise<void>((resolve) => {
      stopRequested = (reason) => {
        stopping = true;
        void daemon.stop(reason).then(resolve);
      };
    });
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // Detached, the watchdog must know a stop was asked for, or it would restart us.
    const requestStop = (): void => (process.connected ? void process.send!({ type: 'stop' }) : stopRequested?.('schedd stop'));
    const handler = controlHandler(daemon, { ...options, requestStop });
    try {
      server = await startControlServer(socketPath(stateDir), handler, (error) => log.error({ err: error }, 'control socket error'));
    } catch (error) {
      throw new ScheddError('SCHEDD_SOCKET', `cannot open the control socket ${socketPath(stateDir)}: ${(error as Error).message}`, { cause: error });
    }
    if (options.mode === 'foreground') writePidfile(stateDir, process.pid);
    // Everything privileged is open: the socket, the log, the state directory.
    if (options.user !== undefined) {
      const account = lookupAccount(options.user);
      if (account === null) throw new ScheddError('SCHEDD_USER', `--user ${options.user}: no such user`);
      for (const name of readdirSync(stateDir)) chownSync(join(stateDir, name), account.uid, account.gid);
      chownSync(stateDir, account.uid, account.gid);
      dropPrivileges(options.user);
    }
    await daemon.start();
    // Detached: if the watchdog dies, nobody could stop us any more; stop on our own. (Not a
    // second stop: the disconnect at the end of a clean stop must not hurry anything.)
    onDisconnect = () => {
      if (!stopping) stopRequested?.('watchdog exited');
    };
    process.on('disconnect', onDisconnect);
    reloadFor = (source) => void daemon.reload(source);
    if (hupPending) reloadFor('SIGHUP');
    ready({ ok: true, pid: process.pid });
    await stopped;
    return 0;
  } catch (error) {
    ready({ ok: false, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHup);
    process.off('SIGUSR2', onUsr2);
    process.off('disconnect', onDisconnect);
    await server?.close();
    if (options.mode === 'foreground') removePidfile(stateDir, process.pid);
    lock?.release();
  }
}
