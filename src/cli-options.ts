import { InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { formatDuration, parseDuration } from './crontab/duration.js';
import { usageError } from './errors.js';

/** Commander parsers and options shared by several commands (the daemon's own are in config.ts). */

export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return Number(value);
}

export function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number (0 or more)');
  return Number(value);
}

/**
 * A bare number is seconds. Beyond an hour it is refused: `--kill-grace 10000`, copied from help
 * that once printed milliseconds, meant 2h46m40s. A longer duration is written with its units.
 */
const MAX_BARE_SECONDS = 3600;

function parseDurationArgument(flag: string, value: string): number {
  if (/^\d+$/.test(value)) {
    const seconds = Number(value);
    if (seconds > MAX_BARE_SECONDS) {
      throw usageError(
        `${flag} ${value}: a bare number is seconds, so this is ${formatDuration(seconds * 1000)} (expected at most ${MAX_BARE_SECONDS}; write ${formatDuration(seconds)} for ${value} milliseconds, ${formatDuration(seconds * 1000)} if you mean it)`,
      );
    }
    return seconds * 1000;
  }
  const ms = parseDuration(value);
  if (ms === null) throw new InvalidArgumentError('expected a duration such as 10s, 2m or a number of seconds');
  return ms;
}

/** A duration option whose help shows its default as a duration (`10s`), as it is written. */
export function durationOption(flags: string, description: string, defaultMs: number): Option {
  const flag = flags.split(' ')[0]!;
  return new Option(flags, `${description} (10s, 2m, 1h30m; a bare number is seconds)`).argParser((value: string) => parseDurationArgument(flag, value)).default(defaultMs, formatDuration(defaultMs));
}

/**
 * Commander keeps the last of a repeated option; for the one file or directory a command works
 * on, a second one is far more likely a mistake (a script adding -c to a line that had one).
 */
function once(flag: string, what: string): (value: string, previous: string | undefined) => string {
  return (value, previous) => {
    if (previous !== undefined) throw usageError(`${flag} given twice (expected ${what})`);
    return value;
  };
}

export const crontabOption = (): Option =>
  new Option('-c, --crontab <file>', 'crontab file (default: $SCHEDD_CRONTAB, else ~/.config/schedd/crontab; /etc/schedd/crontab for root)').argParser(once('-c', 'one crontab'));
export const systemOption = (): Option => new Option('--system', 'system crontab format: a user name between the schedule and the command');
export const cronOption = (): Option => new Option('--cron', "the machine's cron tables too: /etc/crontab, /etc/cron.d/*, /var/spool/cron/crontabs/USER (as Debian's cron reads them)");
export const cronRootOption = (): Option =>
  new Option('--cron-root <dir>', 'prefix for the cron tables, the spool, cron.allow and cron.deny (default: /)').argParser(once('--cron-root', 'one cron root'));

/** The cron root, absolute ('/' by default). */
export function cronRootPath(option: string | undefined): string {
  return option === undefined ? '/' : resolve(option);
}

export const stateDirOption = (): Option =>
  new Option('--state-dir <dir>', 'state directory (default: $SCHEDD_STATE_DIR, else ~/.local/state/schedd; /var/lib/schedd for root)').argParser(
    once('--state-dir', 'one state directory'),
  );
