import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { homedir } from 'node:os';
import type { Entry } from '../crontab/types.js';
import { safeUserName, type Account } from '../accounts.js';

/**
 * What a job's process gets: cron's shell rule (SHELL from the crontab, else /bin/sh; never the
 * login shell of whoever started schedd), its environment and its working directory.
 *
 * Environment, in order of precedence (later wins): the environment schedd was started with
 * (or, with --clean-env, cron's minimal one), the crontab's variables in effect for the entry,
 * then SCHEDD_JOB_ID, SCHEDD_RUN_ID and SCHEDD_SCHEDULED_AT.
 */

export const DEFAULT_SHELL = '/bin/sh';

export interface RunContext {
  runId: string;
  scheduledAt: number;
}

let clean: Readonly<Record<string, string>> | null = null;

/** Cron's minimal environment; looked up once, at the first run (after any privilege drop). */
function cleanBase(): Readonly<Record<string, string>> {
  if (clean === null) {
    const user = safeUserName();
    clean = { HOME: homedir(), LOGNAME: user, USER: user, SHELL: DEFAULT_SHELL, PATH: '/usr/bin:/bin' };
  }
  return clean;
}

/**
 * A job run for another user (system crontab, or `user=`) starts from cron's environment for
 * that user, never from the daemon's own (root's): HOME, LOGNAME, USER, SHELL, PATH.
 */
function accountBase(account: Account): Record<string, string> {
  return { HOME: account.home, LOGNAME: account.name, USER: account.name, SHELL: DEFAULT_SHELL, PATH: '/usr/bin:/bin' };
}

export function jobProcess(
  entry: Entry,
  context: RunContext,
  options: { cleanEnv: boolean; baseEnv: Readonly<Record<string, string>>; account?: Account | undefined },
): { shell: string; env: Record<string, string>; cwd: string; cwdIsHome: boolean } {
  const base = options.account !== undefined ? accountBase(options.account) : options.cleanEnv ? cleanBase() : options.baseEnv;
  const env: Record<string, string> = { ...base, ...entry.env };
  const shell = entry.env.SHELL ?? DEFAULT_SHELL;
  env.SHELL = shell;
  env.SCHEDD_JOB_ID = entry.id;
  env.SCHEDD_RUN_ID = context.runId;
  env.SCHEDD_SCHEDULED_AT = new Date(context.scheduledAt).toISOString();
  const cwd = entry.options.cwd ?? env.HOME ?? homedir();
  return { shell, env, cwd, cwdIsHome: entry.options.cwd === undefined };
}

/** A delay in [0, jitterMs), the same for a job on a host every time, so runs spread but stay predictable. */
export function stableJitterMs(jobId: string, host: string, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  const digest = createHash('sha256').update(`${host}\u0000${jobId}`).digest();
  return digest.readUInt32BE(0) % jitterMs;
}

let runCounter = 0;

/** Run ids sort by creation time: base-36 milliseconds, a counter, and a little randomness. */
export function newRunId(nowMs: number): string {
  runCounter = (runCounter + 1) % 1296;
  const random = Math.floor(Math.random() * 1296).toString(36).padStart(2, '0');
  return `${nowMs.toString(36)}${runCounter.toString(36).padStart(2, '0')}${random}`;
}

/**
 * Every group id of `name` (primary included), through NSS as login does (`id -G`); null when
 * that cannot be told. Only asked when setpriv is missing (see RunSpec.account).
 */
export function groupIds(name: string): number[] | null {
  try {
    const out = execFileSync('id', ['-G', '--', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const ids = out.split(/\s+/).map(Number);
    return ids.every((id) => Number.isInteger(id) && id >= 0) ? ids : null;
  } catch {
    return null;
  }
}
