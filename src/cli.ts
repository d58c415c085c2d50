import { resolve } from 'node:path';
import { Command, CommanderError, type OptionValues } from 'commander';
import { checkCommand, checkCronCommand } from './commands/check.js';
import { crontabCommand, type CrontabAction } from './commands/crontab.js';
import { editCommand } from './commands/edit.js';
import { historyCommand, outputCommand } from './commands/history.js';
import { logsCommand } from './commands/logs.js';
import { listCommand } from './commands/list.js';
import { nextCommand } from './commands/next.js';
import { reloadCommand } from './commands/reload.js';
import { runCommand } from './commands/run.js';
import { schedulerCommand, startCommand } from './commands/start.js';
import { serviceCommand, servicesCommand } from './commands/services.js';
import { statusCommand } from './commands/status.js';
import { stopCommand } from './commands/stop.js';
import { cronOption, cronRootOption, cronRootPath, crontabOption, durationOption, positiveInt, stateDirOption, systemOption, wholeNumber } from './cli-options.js';
import { addDaemonOptions, crontabPath, fromFlags, stateDirPath } from './config.js';
import { checkStateDirForClient } from './state-dir/check.js';
import { crontabSocketPath, logPath } from './state-dir/paths.js';
import { ExitCode, ScheddError, usageError } from './errors.js';
import { escapeLines, escapeText } from './terminal.js';

/** The commander program. This file is the only place that calls process.exit. */

/** The state directory of a command that reads what a daemon left there: refused if someone else controls it. */
function clientStateDir(option: string | undefined): string {
  const dir = stateDirPath(option);
  checkStateDirForClient(dir);
  return dir;
}

let exitCode: number = ExitCode.ok;

const STOP_TIMEOUT_MS = 120_000;
/** How long `schedd service` waits for the daemon to be done (a rolling restart of many instances). */
const SERVICE_TIMEOUT_MS = 15 * 60_000;

/**
 * A usage error as one line, `schedd: unknown option '--bogus' (see schedd list --help)`, from
 * commander's own text (`error: ...`, a suggestion on a line of its own).
 */
export function usageLine(text: string, command: string): string {
  const what = text
    .trim()
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean (.*)\?\)$/, '; did you mean $1?')
    .replace(/^option '([^']*)' argument '(.*)' is invalid\. ([^]*)$/, (_, flags: string, value: string, why: string) => {
      // `-n, --count <n>`: the long name says most.
      const flag = flags.split(/[\s,|]+/).filter((word) => word.startsWith('-')).pop() ?? flags;
      return `${flag} '${value}' is invalid: ${why.charAt(0).toLowerCase()}${why.slice(1)}`;
    })
    .replace(/\. (Expected|Allowed)/, (_, word: string) => `; ${word.toLowerCase()}`)
    .replace(/\.$/, '');
  return `schedd: ${escapeText(what)} (see ${command} --help)\n`;
}

export function buildProgram(): Command {
  const program = new Command('schedd')
    .description('A cron replacement: runs a crontab-compatible file as supervised jobs')
    .version('0.1.0')
    .exitOverride();

  program
    .command('check')
    .description('check a crontab: every problem as FILE:LINE:COL; exit 0 when valid, 1 when not')
    .argument('[file]', 'crontab file (default: as for -c)')
    .addOption(crontabOption())
    .addOption(systemOption())
    .addOption(cronOption())
    .addOption(cronRootOption())
    .action(async (file: string | undefined, options: { crontab?: string; system?: boolean; cron?: boolean; cronRoot?: string }) => {
      if (file !== undefined && options.crontab !== undefined) throw usageError('a crontab given twice, as FILE and as -c (expected one crontab)');
      const given = file ?? options.crontab;
      if (options.cron === true || options.cronRoot !== undefined) {
        // With --cron, a crontab is checked beside the tables only when one is named.
        const crontab = given === undefined ? null : { file: crontabPath(given), displayName: given, system: options.system === true };
        exitCode = await checkCronCommand(cronRootPath(options.cronRoot), crontab);
        return;
      }
      exitCode = await checkCommand(crontabPath(given), given ?? crontabPath(undefined), options);
    });

  program
    .command('next')
    .description('print the next fire times of a schedule expression')
    .argument('<expr...>', 'a schedule: 5 fields, 6 with seconds first, or a macro such as @daily (quote it)')
    .option('-n, --count <n>', 'how many times to print', positiveInt, 5)
    .option('--tz <zone>', 'IANA time zone (default: the system zone)')
    .option('--from <iso>', 'start after this time (default: now); without an offset it is read in --tz')
    .action((words: string[], options: { count: number; tz?: string; from?: string }) => {
      exitCode = nextCommand(words.join(' '), options, Date.now());
    });

  program
    .command('list')
    .description('list every job with its id, schedule, next run and command (and its runs, when the daemon runs)')
    .addOption(crontabOption())
    .addOption(stateDirOption())
    .addOption(systemOption())
    .addOption(cronOption())
    .addOption(cronRootOption())
    .option('--all', "with --cron: also the files of the cron directories that are not tables (cron skips them), and refused tables")
    .option('--json', 'print a JSON array (with --all: an object of jobs, skipped files and refused tables)')
    .action(async (options: { crontab?: string; stateDir?: string; system?: boolean; json?: boolean; cron?: boolean; cronRoot?: string; all?: boolean }) => {
      const path = crontabPath(options.crontab);
      const cron = options.cron === true || options.cronRoot !== undefined ? cronRootPath(options.cronRoot) : null;
      if (options.all === true && cron === null) throw usageError('--all lists what the cron directories hold (expected --cron with it)');
      exitCode = await listCommand(path, options.crontab ?? path, { ...options, stateDir: clientStateDir(options.stateDir), named: options.crontab !== undefined, cron, all: options.all === true }, Date.now());
    });

  addDaemonOptions(program.command('start').description('start the daemon (detached; --foreground to stay in this terminal)'))
    .option('-f, --foreground', 'stay in the foreground, logging to stdout')
    .action(async (flags: OptionValues) => {
      exitCode = await startCommand({ ...fromFlags(flags), foreground: flags.foreground === true });
    });

  program
    .command('stop')
    .description('stop the daemon gracefully; returns when it has exited')
    .addOption(stateDirOption())
    .addOption(durationOption('--timeout <duration>', 'how long to wait for it to exit', STOP_TIMEOUT_MS))
    .action(async (options: { stateDir?: string; timeout: number }) => {
      // stopCommand checks the directory itself (restart comes through it too).
      exitCode = await stopCommand(stateDirPath(options.stateDir), { timeoutMs: options.timeout });
    });

  addDaemonOptions(program.command('restart').description('stop the daemon if it runs, then start it (detached)')).action(async (flags: OptionValues) => {
    const options = fromFlags(flags);
    await stopCommand(options.stateDir, { timeoutMs: STOP_TIMEOUT_MS });
    exitCode = await startCommand({ ...options, foreground: false });
  });

  program
    .command('status')
    .description('is the daemon running, and what is it doing (exit 3 when not running)')
    .addOption(stateDirOption())
    .option('--json', 'print JSON')
    .action(async (options: { stateDir?: string; json?: boolean }) => {
      exitCode = await statusCommand(clientStateDir(options.stateDir), options);
    });

  program
    .command('reload')
    .description('re-read the crontab now; exit 1 with its errors (the first 20, then a count) when it is rejected')
    .addOption(stateDirOption())
    .action(async (options: { stateDir?: string }) => {
      exitCode = await reloadCommand(clientStateDir(options.stateDir));
    });

  program
    .command('run')
    .description('start a run of a job now (its overlap policy applies); prints the run id')
    .argument('<job>', 'job id, as schedd list shows it')
    .addOption(stateDirOption())
    .action(async (job: string, options: { stateDir?: string }) => {
      exitCode = await runCommand(clientStateDir(options.stateDir), job);
    });

  program
    .command('services')
    .description('every instance of every service: state, pid, uptime, restarts, last exit (exit 3 when not running)')
    .addOption(stateDirOption())
    .option('--json', 'print JSON')
    .action(async (options: { stateDir?: string; json?: boolean }) => {
      exitCode = await servicesCommand(clientStateDir(options.stateDir), options);
    });

  const service = program.command('service').description('start, stop, restart, reload or signal a service (exit 0 once done, 1 with the reason, 3 when not running)');
  const actions = [
    ['start', 'start its stopped or failed instances; done when they run'],
    ['stop', 'stop it gracefully (stop signal, SIGKILL after stop-timeout); it stays stopped until started'],
    ['restart', 'restart it gracefully, one instance at a time; done when the new processes run'],
    ['reload', 'send its reload signal (reload-signal=); the processes keep running'],
  ] as const;
  for (const [action, description] of actions) {
    service
      .command(action)
      .description(description)
      .argument('<name>', 'service id, as schedd services shows it')
      .option('--instance <n>', 'only this instance (0..N-1)', wholeNumber)
      .addOption(durationOption('--timeout <duration>', 'give up waiting after this long', SERVICE_TIMEOUT_MS))
      .addOption(stateDirOption())
      .action(async (name: string, options: { stateDir?: string; instance?: number; timeout: number }) => {
        exitCode = await serviceCommand(clientStateDir(options.stateDir), action, name, options);
      });
  }
  service
    .command('signal')
    .description("send a signal to its processes (each instance's main process, not its group)")
    .argument('<name>', 'service id, as schedd services shows it')
    .argument('<signal>', 'a signal name: USR1, SIGUSR1, HUP, ...')
    .option('--instance <n>', 'only this instance (0..N-1)', wholeNumber)
    .addOption(stateDirOption())
    .action(async (name: string, signal: string, options: { stateDir?: string; instance?: number }) => {
      exitCode = await serviceCommand(clientStateDir(options.stateDir), 'signal', name, { ...options, signal, timeout: 10_000 });
    });

  program
    .command('edit')
    .description('edit the crontab in $VISUAL or $EDITOR; it is installed only when valid, atomically')
    .addOption(crontabOption())
    .addOption(systemOption())
    .action(async (options: { crontab?: string; system?: boolean }) => {
      const path = crontabPath(options.crontab);
      exitCode = await editCommand({ crontabPath: path, crontabName: options.crontab ?? path, system: options.system === true });
    });

  program
    .command('crontab')
    .description("crontab(1) for the cron spool: list (-l), edit (-e), remove (-r) or install (FILE, - for stdin) a user's table; others than root go through the root daemon's crontab.sock")
    .argument('[file]', "install this table ('-': standard input)")
    .option('-l', 'list the table')
    .option('-e', 'edit the table in $VISUAL or $EDITOR; installed only when valid')
    .option('-r', 'remove the table')
    .option('-i', 'with -r: ask before removing')
    .option('-u <user>', "root only: this user's table")
    .addOption(cronRootOption())
    .addOption(stateDirOption())
    .action(async (file: string | undefined, options: { l?: boolean; e?: boolean; r?: boolean; i?: boolean; u?: string; cronRoot?: string; stateDir?: string }) => {
      const chosen = [options.l && '-l', options.e && '-e', options.r && '-r', file !== undefined && 'FILE'].filter((x): x is string => typeof x === 'string');
      if (chosen.length === 0) throw usageError('nothing to do (expected -l, -e, -r, or FILE to install; - for standard input)');
      if (chosen.length > 1) throw usageError(`${chosen.join(' and ')} together (expected one of -l, -e, -r, FILE)`);
      if (options.i === true && options.r !== true) throw usageError('-i without -r (expected -r -i)');
      const action: CrontabAction = options.l ? { kind: 'list' } : options.e ? { kind: 'edit' } : options.r ? { kind: 'remove', ask: options.i === true } : { kind: 'install', file: file! };
      // The daemon that serves users is root's: /var/lib/schedd unless told otherwise, for everyone.
      const stateDir = options.stateDir ?? process.env.SCHEDD_STATE_DIR ?? '/var/lib/schedd';
      exitCode = await crontabCommand({ action, ...(options.u === undefined ? {} : { user: options.u }), cronRoot: cronRootPath(options.cronRoot), socket: crontabSocketPath(resolve(stateDir)) });
    });

  program
    .command('logs')
    .description("print the detached daemon's log for people; -f to keep following it")
    .addOption(stateDirOption())
    .option('-f, --follow', 'keep printing lines as they are written, across log rotations')
    .option('--job <id>', "only this job's records")
    .option('-n, --lines <n>', 'how many lines to print first', wholeNumber, 50)
    .option('--json', 'the raw JSON lines')
    .action(async (options: { stateDir?: string; follow?: boolean; job?: string; lines: number; json?: boolean }) => {
      exitCode = await logsCommand({ logPath: logPath(clientStateDir(options.stateDir)), follow: options.follow === true, ...(options.job === undefined ? {} : { job: options.job }), lines: options.lines, json: options.json === true });
    });

  program
    .command('history')
    .description('recent runs, newest first: what ran, failed, was skipped, missed or lost')
    .argument('[job]', 'only this job')
    .addOption(stateDirOption())
    .option('--limit <n>', 'how many runs', positiveInt, 20)
    .option('--table <table>', 'only the runs of one cron table: crontab, cron.d/NAME, user/NAME (--cron)')
    .option('--json', 'print a JSON array')
    .action(async (job: string | undefined, options: { stateDir?: string; limit: number; json?: boolean; table?: string }) => {
      exitCode = await historyCommand(clientStateDir(options.stateDir), job, options);
    });

  program
    .command('output')
    .description("the captured output of a job's run (the latest by default)")
    .argument('<job>', 'job id')
    .addOption(stateDirOption())
    .option('--run <id>', 'this run instead of the latest')
    .option('--raw', 'the bytes as the job wrote them (by default control characters are shown escaped, as \\x1b)')
    .action(async (job: string, options: { stateDir?: string; run?: string; raw?: boolean }) => {
      exitCode = await outputCommand(clientStateDir(options.stateDir), job, options.run, { raw: options.raw === true });
    });

  // `__watchdog` never gets here: bin/schedd.js hands it to its lean entry (commands/watchdog.ts).
  addDaemonOptions(program.command('__scheduler', { hidden: true })).action(async (flags: OptionValues) => {
    exitCode = await schedulerCommand(fromFlags(flags));
  });

  for (const command of [program, ...program.commands, ...service.commands]) {
    const name = command === program ? 'schedd' : command.parent === service ? `schedd service ${command.name()}` : `schedd ${command.name()}`;
    command.configureOutput({ outputError: (text, write) => write(usageLine(text, name)) });
  }
  return program;
}

/**
 * Resolves once everything written to the stream has reached the OS. A pipe takes 64 KiB at a
 * time: exiting with more still queued cut `schedd list --json | cat` at 65,536 bytes.
 */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/** A reader that went away (`schedd logs | head`) wants no more output: that is not an error. */
function ignoreClosedReader(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

async function main(): Promise<void> {
  ignoreClosedReader(process.stdout);
  ignoreClosedReader(process.stderr);
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are successes; anything else commander rejects is usage.
      exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    } else if (error instanceof ScheddError) {
      process.stderr.write(`schedd: ${escapeLines(error.message)}\n`);
      exitCode = error.exitCode;
    } else {
      process.stderr.write(`schedd: internal error: ${escapeLines((error as Error).stack ?? String(error))}\n`);
      exitCode = ExitCode.failure;
    }
  }
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  // Exit explicitly: after a daemon stops, nothing must keep the process alive.
  process.exit(exitCode);
}

await main();
