import { closeSync, writeSync } from 'node:fs';
import { Command } from 'commander';
import { logPath } from '../state-dir/paths.js';
import { dropPrivileges } from '../daemon/privileges.js';
import { runWatchdog } from '../daemon/watchdog.js';
import { ExitCode } from '../errors.js';
import { createLog } from '../log.js';
import { addDaemonOptions, fromFlags, type DaemonConfig } from '../config.js';
import { CLI_PATH, flush, prepare } from './daemon-setup.js';

/**
 * The watchdog's own entry (bin/schedd.js comes here for `__watchdog`, not through cli.ts): it
 * imports neither the scheduler nor the other commands, nor SQLite, so a process that only
 * waits on its child holds a Node runtime and little else. Its arguments are toArgv's, written
 * by `schedd start`, so they are read with the same option table.
 */
export async function watchdogMain(args: readonly string[]): Promise<number> {
  const command = addDaemonOptions(new Command('__watchdog')).exitOverride();
  command.parse(args, { from: 'user' });
  return watchdogCommand(fromFlags(command.opts()));
}

/** Internal: the watchdog process of detached mode (fd 3 is the readiness pipe). */
export async function watchdogCommand(given: DaemonConfig): Promise<number> {
  process.umask(0o027);
  let options: DaemonConfig;
  try {
    const prepared = prepare(given, false);
    // Before the log or anything else is opened: the restarted scheduler is the user's too.
    if (prepared.account !== null) dropPrivileges(prepared.account);
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
