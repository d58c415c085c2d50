import { Daemon, type DaemonOptions } from './daemon.js';
import { acquireLock, type Lock } from './lock.js';
import { alreadyRunning, removePidfile, writePidfile } from './pidfile.js';
import { daemonApi } from './api.js';
import { apiHandler } from '../control/handler.js';
import { prepareStateDir } from '../state-dir/check.js';
import { crontabSocketPath, socketPath } from '../state-dir/paths.js';
import { startCrontabServer, type CrontabServer } from '../spool/server.js';
import { startControlServer, type ControlServer } from '../control/server.js';
import { ScheddError } from '../errors.js';
import type { Log } from '../log.js';
import { raiseSchedulerPriority } from '../runner/priority.js';

/**
 * The scheduler process: takes the instance lock, installs the crontab, opens the control
 * socket, then runs until told to stop. In the foreground it is the process the user started;
 * in detached mode it is the watchdog's child and reports readiness over the IPC channel. It
 * runs as the daemon's user from the start: with --user, privileges were dropped before (by
 * the foreground start or by the watchdog), so it never chowns anything.
 *
 * A scheduler whose watchdog dies (kill -9) carries on unsupervised: it keeps firing, rewrites
 * the pidfile with its own pid (so `stop` and signals reach it), says so in `status`, and a new
 * `start` refuses while it runs (`restart` stops it and starts a supervised daemon).
 */

export interface ServiceOptions extends Omit<DaemonOptions, 'log'> {
  log: Log;
  mode: 'foreground' | 'detached';
  /** Watchdog restarts so far (detached mode), for status. */
  restarts: number;
  /** The pid `stop` signals: the watchdog's in detached mode, our own in the foreground. */
  pidfilePid: number;
}

/** Where a starting scheduler says how it went (the IPC channel in detached mode). */
export type Readiness = (message: { ok: true; pid: number } | { ok: false; message: string }) => void;

export async function runService(options: ServiceOptions, ready: Readiness): Promise<number> {
  const { log } = options;
  let stateDir = options.stateDir;
  let lock: Lock | null = null;
  let server: ControlServer | null = null;
  let crontabServer: CrontabServer | null = null;
  // A root daemon running the machine's cron tables serves users' `schedd crontab` too.
  const servesUsers = options.cron && process.geteuid?.() === 0;
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
    // Checked again in this process, as the user it runs as (the caller created it).
    stateDir = prepareStateDir(stateDir, { create: false, searchable: servesUsers });
    lock = await acquireLock(stateDir, 'scheduler');
    if (lock === null) throw new ScheddError('SCHEDD_ALREADY_RUNNING', alreadyRunning(stateDir));
    // Firing first: the scheduler runs above its jobs' priority when allowed (see priority.ts).
    const priority = raiseSchedulerPriority();
    if (priority.raised) log.debug({}, `scheduler priority raised: the scheduler at nice ${priority.to}, jobs at nice ${priority.from}`);
    else log.debug({ reason: priority.reason }, `scheduler priority not raised: the scheduler and jobs at nice ${priority.from}`);
    const daemon = new Daemon({ ...options, stateDir });
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
    // Read on every request: an orphaned scheduler becomes the pidfile's pid.
    let pidfilePid = options.pidfilePid;
    let unsupervisedSince: string | null = null;
    const api = daemonApi(daemon, {
      ...options,
      stateDir,
      requestStop,
      get pidfilePid() {
        return pidfilePid;
      },
      get unsupervisedSince() {
        return unsupervisedSince;
      },
    });
    try {
      server = await startControlServer(socketPath(stateDir), apiHandler(api), (error) => log.error({ err: error }, 'control socket error'));
    } catch (error) {
      throw new ScheddError('SCHEDD_SOCKET', `cannot open the control socket ${socketPath(stateDir)}: ${(error as Error).message}`, { cause: error });
    }
    if (servesUsers) {
      try {
        crontabServer = await startCrontabServer(crontabSocketPath(stateDir), { cronRoot: options.cronRoot, log });
      } catch (error) {
        throw new ScheddError('SCHEDD_SOCKET', `cannot open the crontab socket ${crontabSocketPath(stateDir)}: ${(error as Error).message}`, { cause: error });
      }
    }
    if (options.mode === 'foreground') writePidfile(stateDir, process.pid);
    await daemon.start();
    // Detached: if the watchdog dies, carry on and stay reachable. Stopping would leave the
    // machine without its jobs until someone notices; the pidfile now names us, so `stop` and
    // signals reach us, and `restart` puts a watchdog back. (Not during a clean stop: the
    // watchdog's end of the channel closes then too.)
    onDisconnect = () => {
      if (stopping) return;
      unsupervisedSince = new Date().toISOString();
      pidfilePid = process.pid;
      log.warn({ daemonPid: process.pid }, 'watchdog exited: carrying on unsupervised (restart to supervise it again)');
      try {
        writePidfile(stateDir, process.pid);
      } catch (error) {
        log.error({ err: error }, `cannot rewrite the pidfile: ${(error as Error).message}`);
      }
    };
    process.on('disconnect', onDisconnect);
    // A watchdog that died while we were starting disconnected before anyone listened.
    if (options.mode === 'detached' && !process.connected) onDisconnect();
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
    await crontabServer?.close();
    // Only if it names us: the foreground's, or an orphan's own.
    removePidfile(stateDir, process.pid);
    lock?.release();
  }
}
