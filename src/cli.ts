import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { checkCommand } from './commands/check.js';
import { listCommand } from './commands/list.js';
import { nextCommand } from './commands/next.js';
import { startForeground } from './commands/start.js';
import { parseDuration } from './crontab/duration.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { crontabPath, defaultStateDir } from './config.js';
import { resolve } from 'node:path';
import { ExitCode, ScheddError, usageError } from './errors.js';

/** The commander program. This file is the only place that calls process.exit. */

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return Number(value);
}

const crontabOption = (): Option =>
  new Option('-c, --crontab <file>', 'crontab file (default: $SCHEDD_CRONTAB, else ~/.config/schedd/crontab; /etc/schedd/crontab for root)');
const systemOption = (): Option => new Option('--system', 'system crontab format: a user name between the schedule and the command');

function duration(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : parseDuration(value);
  if (ms === null) throw new InvalidArgumentError('expected a duration such as 10s, 2m or a number of seconds');
  return ms;
}

const stateDirOption = (): Option => new Option('--state-dir <dir>', 'state directory (default: $SCHEDD_STATE_DIR, else ~/.local/state/schedd; /var/lib/schedd for root)');

let exitCode: number = ExitCode.ok;

export function buildProgram(): Command {
  const program = new Command('schedd')
    .description('A cron replacement: runs a crontab-compatible file as supervised jobs')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('check')
    .description('check a crontab: every problem as FILE:LINE:COL; exit 0 when valid, 1 when not')
    .argument('[file]', 'crontab file (default: as for -c)')
    .addOption(crontabOption())
    .addOption(systemOption())
    .action(async (file: string | undefined, options: { crontab?: string; system?: boolean }) => {
      const given = file ?? options.crontab;
      exitCode = await checkCommand(crontabPath(given), given ?? crontabPath(undefined), options);
    });

  program
    .command('next')
    .description('print the next fire times of a schedule expression')
    .argument('<expr...>', "a schedule: 5 fields, 6 with seconds first, or a macro such as @daily (quote it)")
    .option('-n, --count <n>', 'how many times to print', positiveInt, 5)
    .option('--tz <zone>', 'IANA time zone (default: the system zone)')
    .option('--from <iso>', 'start after this time (default: now); without an offset it is read in --tz')
    .action((words: string[], options: { count: number; tz?: string; from?: string }) => {
      exitCode = nextCommand(words.join(' '), options, Date.now());
    });

  program
    .command('list')
    .description('list every job with its id, schedule, next run and command')
    .addOption(crontabOption())
    .addOption(systemOption())
    .option('--json', 'print a JSON array')
    .action(async (options: { crontab?: string; system?: boolean; json?: boolean }) => {
      const path = crontabPath(options.crontab);
      exitCode = await listCommand(path, options.crontab ?? path, options, Date.now());
    });

  program
    .command('start')
    .description('run the scheduler (in the foreground with --foreground)')
    .addOption(crontabOption())
    .addOption(stateDirOption())
    .addOption(systemOption())
    .option('-f, --foreground', 'stay in the foreground, logging to stdout')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .option('--json-logs', 'JSON log lines even when stdout is a terminal')
    .option('--clean-env', "give jobs cron's minimal environment instead of schedd's own")
    .option('--max-concurrent <n>', 'at most this many jobs running at once', positiveInt)
    .option('--kill-grace <duration>', 'time between SIGTERM and SIGKILL when a job is stopped', duration, 10_000)
    .option('--stop-grace <duration>', 'on SIGTERM, how long running jobs get to finish', duration, 30_000)
    .action(async (options: { crontab?: string; stateDir?: string; system?: boolean; foreground?: boolean; logLevel: LogLevel; jsonLogs?: boolean; cleanEnv?: boolean; maxConcurrent?: number; killGrace: number; stopGrace: number }) => {
      if (!options.foreground) throw usageError('daemon mode is not available yet: run `schedd start --foreground`');
      const path = crontabPath(options.crontab);
      exitCode = await startForeground({
        crontabPath: path,
        crontabName: options.crontab ?? path,
        stateDir: options.stateDir === undefined ? defaultStateDir() : resolve(options.stateDir),
        system: options.system === true,
        logLevel: options.logLevel,
        ...(options.jsonLogs ? { pretty: false } : {}),
        cleanEnv: options.cleanEnv === true,
        maxConcurrent: options.maxConcurrent ?? null,
        killGraceMs: options.killGrace,
        stopGraceMs: options.stopGrace,
      });
    });

  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are successes; anything else commander rejects is usage.
      exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    } else if (error instanceof ScheddError) {
      process.stderr.write(`schedd: ${error.message}\n`);
      exitCode = error.exitCode;
    } else {
      process.stderr.write(`schedd: internal error: ${(error as Error).stack ?? String(error)}\n`);
      exitCode = ExitCode.failure;
    }
  }
  // Exit explicitly: after a foreground daemon stops, nothing must keep the process alive.
  process.exit(exitCode);
}

await main();
