import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { checkCommand } from './commands/check.js';
import { listCommand } from './commands/list.js';
import { nextCommand } from './commands/next.js';
import { crontabPath } from './config.js';
import { ExitCode, ScheddError } from './errors.js';

/** The commander program. This file is the only place that calls process.exit. */

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return Number(value);
}

const crontabOption = (): Option =>
  new Option('-c, --crontab <file>', 'crontab file (default: $SCHEDD_CRONTAB, else ~/.config/schedd/crontab; /etc/schedd/crontab for root)');
const systemOption = (): Option => new Option('--system', 'system crontab format: a user name between the schedule and the command');

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
  process.exitCode = exitCode;
}

await main();
