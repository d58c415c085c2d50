import { Daemon } from '../daemon/daemon.js';
import { ExitCode, ScheddError } from '../errors.js';
import { createLog, type LogLevel } from '../log.js';

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
}

/** `schedd start --foreground`: run until SIGTERM or SIGINT, reload on SIGHUP. */
export async function startForeground(options: StartOptions): Promise<number> {
  const log = createLog({ level: options.logLevel, pretty: options.pretty ?? process.stdout.isTTY === true });
  const daemon = new Daemon({ ...options, log });
  try {
    await daemon.start();
  } catch (error) {
    await flush(log);
    if (error instanceof ScheddError) throw error;
    throw new ScheddError('SCHEDD_START_FAILED', `cannot start: ${(error as Error).message}`, { cause: error });
  }
  process.on('SIGHUP', () => void daemon.reload('SIGHUP'));
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => void daemon.stop(signal).then(resolve);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await flush(log);
  return ExitCode.ok;
}

function flush(log: { flush(callback?: (error?: Error) => void): void }): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}
