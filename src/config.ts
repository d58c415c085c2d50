import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { Option, type Command, type OptionValues } from 'commander';
import { cronOption, cronRootOption, cronRootPath, crontabOption, durationOption, positiveInt, stateDirOption, systemOption } from './cli-options.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

/**
 * The daemon's configuration, and its options declared once. Each option of DAEMON_OPTIONS
 * gives its commander option (flag, help, parser, default), the DaemonConfig key it sets, and
 * how it is written back on the command line of a detached child (the watchdog, then the
 * scheduler): a new daemon option is one entry here and one field of DaemonConfig.
 *
 * Default locations: root gets the system paths, everyone else XDG-style paths in their home.
 * The environment variables win over both, and command-line options over everything.
 */

export interface DaemonConfig {
  /** Absolute: a detached daemon runs in `/`. '' with --cron when there is no crontab besides the cron tables. */
  crontabPath: string;
  /** The crontab as the user named it, for messages. */
  crontabName: string;
  stateDir: string;
  system: boolean;
  /**
   * `--cron`: run the machine's cron tables (/etc/crontab, /etc/cron.d, the users' spool) as
   * Debian's cron does, beside `-c FILE` when one is given.
   */
  cron: boolean;
  /** `--cron-root DIR`: prefixes the cron tables' paths (containers, chroots, tests); '/' by default. Absolute. */
  cronRoot: string;
  /** `--sendmail PATH`: the mailer jobs' output is mailed through (cron's MAILTO). */
  sendmail: string;
  logLevel: LogLevel;
  /** Human-readable logs; defaults to whether stdout is a terminal (--json-logs: false). */
  pretty?: boolean;
  cleanEnv: boolean;
  maxConcurrent: number | null;
  killGraceMs: number;
  stopGraceMs: number;
  /** As root: the account the daemon becomes once the state directory is checked. */
  user?: string;
  /** Run history retention: records kept per job, and at most this many days old. */
  keepRuns?: number;
  keepDays?: number;
}

/** Where cron (and so schedd) finds the mailer: Debian's, and every MTA's compatibility path. */
export const DEFAULT_SENDMAIL = '/usr/sbin/sendmail';

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function defaultCrontabPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SCHEDD_CRONTAB) return resolve(env.SCHEDD_CRONTAB);
  return isRoot() ? '/etc/schedd/crontab' : join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'schedd', 'crontab');
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SCHEDD_STATE_DIR) return resolve(env.SCHEDD_STATE_DIR);
  return isRoot() ? '/var/lib/schedd' : join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'schedd');
}

export function crontabPath(option: string | undefined): string {
  return option === undefined ? defaultCrontabPath() : resolve(option);
}

export function stateDirPath(option: string | undefined): string {
  return option === undefined ? defaultStateDir() : resolve(option);
}

interface OptionSpec<K extends keyof DaemonConfig> {
  key: K;
  /** The commander option: flag, help, parser, default. */
  option: () => Option;
  /**
   * The config's value from commander's parsed options (undefined: leave the key out). A
   * required key always gets a value: from the flag, its default, or the default location.
   */
  read: (flags: OptionValues) => undefined extends DaemonConfig[K] ? DaemonConfig[K] | undefined : DaemonConfig[K];
  /** The value on a detached child's command line; [] when absent. */
  argv: (value: DaemonConfig[K]) => string[];
}

/** One entry of the table, its key's type checked where it is declared (entry()). */
export interface DaemonOption {
  key: keyof DaemonConfig;
  option: () => Option;
  readInto(flags: OptionValues, config: Partial<DaemonConfig>): void;
  argvOf(config: DaemonConfig): string[];
}

function entry<K extends keyof DaemonConfig>(spec: OptionSpec<K>): DaemonOption {
  return {
    key: spec.key,
    option: spec.option,
    readInto(flags, config) {
      const value = spec.read(flags);
      if (value !== undefined) config[spec.key] = value;
    },
    argvOf: (config) => spec.argv(config[spec.key]),
  };
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
const msArgv = (flag: string) => (ms: number) => [flag, `${ms}ms`];
const optional = (flag: string) => (value: number | string | undefined) => (value === undefined ? [] : [flag, String(value)]);
const onOff = (flag: string) => (value: boolean | undefined) => (value === true ? [flag] : []);

/** In help order (start and restart list them so). */
export const DAEMON_OPTIONS: readonly DaemonOption[] = [
  entry({
    key: 'crontabPath',
    option: crontabOption,
    // With --cron, the default crontab is a table only when it exists; '' when there is none.
    read: (flags) => (flags.cron === true && str(flags.crontab) === undefined && !existsSync(defaultCrontabPath()) ? '' : crontabPath(str(flags.crontab))),
    argv: (path) => (path === '' ? [] : ['-c', path]),
  }),
  entry({ key: 'stateDir', option: stateDirOption, read: (flags) => stateDirPath(str(flags.stateDir)), argv: (dir) => ['--state-dir', dir] }),
  entry({ key: 'system', option: systemOption, read: (flags) => flags.system === true, argv: onOff('--system') }),
  entry({ key: 'cron', option: cronOption, read: (flags) => flags.cron === true, argv: onOff('--cron') }),
  entry({ key: 'cronRoot', option: cronRootOption, read: (flags) => cronRootPath(str(flags.cronRoot)), argv: (dir) => (dir === '/' ? [] : ['--cron-root', dir]) }),
  entry({
    key: 'sendmail',
    option: () => new Option('--sendmail <path>', "the mailer for jobs' output (MAILTO), called as PATH -FCronDaemon -i -B8BITMIME -oem RECIPIENT... as the job's user").default(DEFAULT_SENDMAIL),
    read: (flags) => resolve(str(flags.sendmail) ?? DEFAULT_SENDMAIL),
    argv: (path) => (path === DEFAULT_SENDMAIL ? [] : ['--sendmail', path]),
  }),
  entry({
    key: 'logLevel',
    option: () => new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'),
    read: (flags) => LOG_LEVELS.find((level) => level === flags.logLevel) ?? 'info',
    argv: (level) => ['--log-level', level],
  }),
  entry({
    key: 'pretty',
    option: () => new Option('--json-logs', 'JSON log lines even when stdout is a terminal (foreground)'),
    read: (flags) => (flags.jsonLogs === true ? false : undefined),
    argv: (pretty) => (pretty === false ? ['--json-logs'] : []),
  }),
  entry({ key: 'cleanEnv', option: () => new Option('--clean-env', "give jobs cron's minimal environment instead of schedd's own"), read: (flags) => flags.cleanEnv === true, argv: onOff('--clean-env') }),
  entry({
    key: 'maxConcurrent',
    option: () => new Option('--max-concurrent <n>', 'at most this many jobs running at once (default: no limit; further due runs wait, in order)').argParser(positiveInt),
    read: (flags) => num(flags.maxConcurrent) ?? null,
    argv: (n) => (n === null ? [] : ['--max-concurrent', String(n)]),
  }),
  entry({ key: 'killGraceMs', option: () => durationOption('--kill-grace <duration>', 'time between SIGTERM and SIGKILL when a job is stopped', 10_000), read: (flags) => num(flags.killGrace) ?? 10_000, argv: msArgv('--kill-grace') }),
  entry({ key: 'stopGraceMs', option: () => durationOption('--stop-grace <duration>', 'on stop, how long running jobs get to finish', 30_000), read: (flags) => num(flags.stopGrace) ?? 30_000, argv: msArgv('--stop-grace') }),
  entry({
    key: 'user',
    option: () => new Option('--user <name>', 'when started as root: become this user once the state directory is checked, before anything in it is opened'),
    read: (flags) => str(flags.user),
    argv: optional('--user'),
  }),
  entry({ key: 'keepRuns', option: () => new Option('--keep-runs <n>', 'run history: records kept per job (default: 100)').argParser(positiveInt), read: (flags) => num(flags.keepRuns), argv: optional('--keep-runs') }),
  entry({ key: 'keepDays', option: () => new Option('--keep-days <n>', 'run history: also drop records older than this many days').argParser(positiveInt), read: (flags) => num(flags.keepDays), argv: optional('--keep-days') }),
  // Internal: a detached daemon gets the path absolute, and the name the user gave for messages.
  entry({
    key: 'crontabName',
    option: () => new Option('--crontab-name <name>').hideHelp(),
    read: (flags) => str(flags.crontabName) ?? str(flags.crontab) ?? crontabPath(undefined),
    argv: (name) => ['--crontab-name', name],
  }),
];

/** Adds the daemon's options to a command (start, restart and the internal processes of detached mode). */
export function addDaemonOptions(command: Command): Command {
  for (const daemonOption of DAEMON_OPTIONS) command.addOption(daemonOption.option());
  return command;
}

/** Commander's parsed options to the config, every path absolute. */
export function fromFlags(flags: OptionValues): DaemonConfig {
  const config: Partial<DaemonConfig> = {};
  for (const daemonOption of DAEMON_OPTIONS) daemonOption.readInto(flags, config);
  // Complete: the table has an entry for every key, and a required key's read always gives a value.
  return config as DaemonConfig;
}

/** The config as the arguments of a detached child, which reads them back with fromFlags. */
export function toArgv(config: DaemonConfig): string[] {
  return DAEMON_OPTIONS.flatMap((daemonOption) => daemonOption.argvOf(config));
}
