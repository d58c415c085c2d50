/*
 * How this works.
 *
 * In detached mode two processes stand behind `schedd start`: this watchdog (the pid in the
 * pidfile, the one signals are sent to) and its child, the scheduler (lock, control socket,
 * jobs). The watchdog owns no timers but its restart backoff. It forwards HUP, USR2, TERM and
 * INT to the scheduler. When the scheduler exits without having been asked to stop, the
 * watchdog starts a new one after a backoff (1 s, doubling, at most 60 s; reset after a minute
 * of good running) and counts the restart; after 5 crashes within a minute it gives up, loudly,
 * and exits 1. A scheduler that fails its very first start is not retried: `schedd start`
 * reports its reason instead.
 *
 * The watchdog runs as the daemon's user (with --user it dropped root before opening anything),
 * so the schedulers it starts are that user's from the start. If the watchdog itself is killed,
 * its scheduler carries on unsupervised and takes over the pidfile (see service.ts); a new
 * watchdog then finds the scheduler lock held and refuses to start a second one. Socket and
 * pidfile are removed only when nobody serves them: the pidfile by the process it names, a
 * stale socket only while holding the scheduler lock (so no live scheduler can be its owner).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, rmSync, writeSync } from 'node:fs';
import { acquireLock, isLocked } from './lock.js';
import { alreadyRunning, removePidfile, writePidfile } from './pidfile.js';
import { socketPath } from '../state-dir/paths.js';
import { toArgv, type DaemonConfig } from '../config.js';
import type { Log } from '../log.js';
import { backoffDelayMs, crashesInWindow, failuresInARow, RESTART_BACKOFF, RESTART_CRASH_WINDOW, tooManyCrashes } from '../backoff.js';

/** A scheduler that ran this long was healthy: its crash starts the backoff afresh. */
const HEALTHY_MS = 60_000;

export interface WatchdogOptions {
  /** The schedulers it starts get this config (as `__scheduler` arguments of the CLI script). */
  config: DaemonConfig;
  cliPath: string;
  log: Log;
  /** The readiness pipe from `schedd start`. */
  readyFd: number | null;
}

type ChildMessage = { type: 'ready'; pid: number } | { type: 'failed'; message: string } | { type: 'stop' };

export async function runWatchdog(options: WatchdogOptions): Promise<number> {
  const { log } = options;
  const stateDir = options.config.stateDir;
  const schedulerArgv = [options.cliPath, '__scheduler', ...toArgv(options.config)];
  const report = (message: object): void => {
    if (options.readyFd === null) return;
    try {
      writeSync(options.readyFd, `${JSON.stringify(message)}\n`);
      closeSync(options.readyFd);
    } catch {
      // `schedd start` went away; the log has the story.
    }
    options.readyFd = null;
  };
  let lock: Awaited<ReturnType<typeof acquireLock>>;
  try {
    lock = await acquireLock(stateDir, 'watchdog');
  } catch (error) {
    // A refused lock secret, say: `schedd start` prints why.
    report({ ok: false, message: (error as Error).message });
    return 1;
  }
  // Our lock free but the scheduler's held: an orphaned scheduler (its watchdog was killed).
  if (lock === null || (await isLocked(stateDir, 'scheduler'))) {
    report({ ok: false, message: alreadyRunning(stateDir) });
    lock?.release();
    return 1;
  }
  writePidfile(stateDir, process.pid);
  let child: ChildProcess | null = null;
  let stopping = false;
  let everReady = false;
  let restarts = 0;
  let failures = 0;
  let crashes: number[] = [];
  let startedAt = 0;
  let restartTimer: NodeJS.Timeout | null = null;

  const finished = new Promise<number>((resolve) => {
    const start = (): void => {
      startedAt = Date.now();
      const scheduler = spawn(process.execPath, schedulerArgv, {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, SCHEDD_RESTARTS: String(restarts), SCHEDD_PIDFILE_PID: String(process.pid) },
      });
      child = scheduler;
      scheduler.on('message', (message: ChildMessage) => {
        if (message.type === 'ready') {
          everReady = true;
          report({ ok: true, pid: process.pid, schedulerPid: message.pid });
        } else if (message.type === 'failed') {
          if (!everReady) report({ ok: false, message: message.message });
        } else if (message.type === 'stop') {
          stop('schedd stop');
        }
      });
      let gone = false;
      // A spawn that fails (EAGAIN, node replaced during an upgrade) emits 'error', maybe no 'exit'.
      scheduler.on('error', (error) => {
        log.error({ err: error }, `cannot start the scheduler: ${error.message}`);
        if (scheduler.pid === undefined) onGone(null, null);
      });
      const onGone = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (gone) return;
        gone = true;
        child = null;
        if (stopping) return resolve(0);
        if (!everReady) {
          report({ ok: false, message: `the scheduler exited during start-up (${signal ?? `code ${code}`})` });
          return resolve(1);
        }
        const now = Date.now();
        failures = failuresInARow(failures, now - startedAt, HEALTHY_MS);
        crashes = crashesInWindow(crashes, now, RESTART_CRASH_WINDOW);
        if (tooManyCrashes(crashes, RESTART_CRASH_WINDOW)) {
          log.fatal({ count: crashes.length, exitCode: code, signal }, `scheduler crashed ${crashes.length} times within a minute: giving up`);
          return resolve(1);
        }
        restarts++;
        const backoffMs = backoffDelayMs(RESTART_BACKOFF, failures);
        log.error({ exitCode: code, signal, delayMs: backoffMs, count: restarts }, `scheduler exited unexpectedly: restart ${restarts} in ${backoffMs / 1000} s`);
        restartTimer = setTimeout(() => {
          restartTimer = null;
          if (!stopping) start();
          else resolve(0);
        }, backoffMs);
      };
      scheduler.on('exit', onGone);
    };
    const stop = (signal: NodeJS.Signals | string): void => {
      stopping = true;
      if (restartTimer !== null) {
        clearTimeout(restartTimer);
        restartTimer = null;
        resolve(0);
        return;
      }
      child?.kill(signal.startsWith('SIG') ? (signal as NodeJS.Signals) : 'SIGTERM');
    };
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop(signal));
    process.on('SIGHUP', () => child?.kill('SIGHUP'));
    process.on('SIGUSR2', () => {
      log.reopen();
      child?.kill('SIGUSR2');
    });
    start();
  });
  const code = await finished;
  // The scheduler is gone; if it died hard (kill -9, a crash during the backoff) its socket
  // file is still here. Removed only while we hold the scheduler lock: then no live scheduler
  // (an orphan from before us, say) can be serving it.
  const schedulerLock = await acquireLock(stateDir, 'scheduler').catch(() => null);
  if (schedulerLock !== null) {
    rmSync(socketPath(stateDir), { force: true });
    schedulerLock.release();
  }
  removePidfile(stateDir, process.pid);
  lock.release();
  return code;
}
