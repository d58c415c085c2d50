import type { Entry } from './crontab/types.js';
import { nextFire } from './schedule/next-fire.js';
import { formatInstant } from './schedule/zone.js';

/** A job as `schedd list` shows it, with or without a daemon. */
export interface JobView {
  id: string;
  line: number;
  schedule: string;
  /** The whole command, as the daemon runs it. */
  command: string;
  /** What the job gets on stdin: the crontab's `%` part (each further `%` a newline); null without. */
  input: string | null;
  /** ISO-8601 with offset in the job's zone; null for @reboot and schedules that never fire. */
  next: string | null;
  zone: string;
  user?: string;
  /** The table it comes from, with --cron: `crontab`, `cron.d/NAME`, `user/NAME`; absent for the crontab (-c). */
  table?: string;
  /** Only when a daemon answered: whether a run is active, and the last one that finished. */
  running?: boolean;
  lastRun?: LastRunView | null;
  /** A service (`service` entry): its instances, and (when a daemon answered) how many are up. */
  service?: { instances: number; up?: number };
}

export interface LastRunView {
  startedAt: string;
  finishedAt: string;
  exitCode: number | null;
  signal: string | null;
  outcome: string;
}

/** A recorded run as `lastRun`: null unless it really ran (started and finished). */
export function lastRunView(run: { startedAt: string | null; finishedAt: string | null; exitCode: number | null; signal: string | null; outcome: string } | null | undefined): LastRunView | null {
  if (run === null || run === undefined || run.startedAt === null || run.finishedAt === null) return null;
  return { startedAt: run.startedAt, finishedAt: run.finishedAt, exitCode: run.exitCode, signal: run.signal, outcome: run.outcome };
}

export function jobView(entry: Entry, nowMs: number, zone: string): JobView & { nextMs: number | null } {
  const fire = nextFire(entry.schedule, zone, nowMs);
  return {
    id: entry.id,
    line: entry.line,
    schedule: entry.schedule.text,
    command: entry.command,
    input: entry.stdin,
    next: fire === null ? null : formatInstant(fire.at, zone),
    nextMs: fire?.at ?? null,
    zone,
    ...(entry.user === undefined ? {} : { user: entry.user }),
    ...(entry.source === undefined || entry.source === '' ? {} : { table: entry.source }),
    ...(entry.options.service === undefined ? {} : { service: { instances: entry.options.service.instances ?? 1 } }),
  };
}
