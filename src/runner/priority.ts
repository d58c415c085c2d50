import { getPriority, setPriority } from 'node:os';

/**
 * Firing is a priority; jobs are not. The scheduler process may run at a raised scheduling
 * priority (a lower nice value) so that, on a busy machine, the moment a burst's slot comes it
 * gets the CPU to claim and release every job ahead of the CPU-bound work beside it. Its jobs
 * must start at the nice value schedd itself was started with, never the raised one: each
 * process is started held at its gate, set back to that value, and only then released
 * (run.ts), so no job's own command runs at the raised priority, even for an instant.
 *
 * Process-wide state, as a process's nice value is: set once by the scheduler process
 * (daemon/service.ts); in any other process (tests, `schedd run` talking to a daemon) nothing
 * is raised and jobs simply inherit the caller's nice.
 */

/** How many nice levels the scheduler goes above its starting value (clamped at -20). */
export const RAISE_BY = 10;
const HIGHEST = -20;

/** The nice value jobs start at, once the scheduler's own was raised; null while it was not. */
let jobsNice: number | null = null;

export type RaiseResult = { raised: true; from: number; to: number } | { raised: false; from: number; reason: string };

/**
 * Lowers this process's nice value by RAISE_BY when it may (root, CAP_SYS_NICE or a
 * RLIMIT_NICE that allows it); otherwise leaves it, and says why. Never throws. Linux sets
 * the calling thread's value: the main thread, which fires, and the processes it forks.
 */
export function raiseSchedulerPriority(): RaiseResult {
  let from: number;
  try {
    from = getPriority();
  } catch (error) {
    return { raised: false, from: 0, reason: (error as Error).message };
  }
  if (jobsNice !== null) return { raised: true, from: jobsNice, to: from };
  const to = Math.max(HIGHEST, from - RAISE_BY);
  if (to === from) return { raised: false, from, reason: 'already at the highest priority' };
  try {
    setPriority(to);
  } catch (error) {
    // Node's SystemError keeps the errno name in info.code (EACCES: not allowed); code is generic.
    return { raised: false, from, reason: (error as { info?: { code?: string } }).info?.code ?? (error as Error).message };
  }
  jobsNice = from;
  return { raised: true, from, to };
}

/** The nice value a job's process must be set to before it is released; null: leave it. */
export function jobNice(): number | null {
  return jobsNice;
}
