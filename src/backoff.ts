/**
 * Backoff after failures, as pure functions: the dispatcher's retries and the watchdog's
 * restarts use the same arithmetic (and supervised services will too), each with its numbers.
 * The callers keep the state (how many failures in a row, when the crashes were); these say
 * what follows from it.
 */

export interface BackoffPolicy {
  /** The delay after the first failure. */
  baseMs: number;
  /** Each further failure in a row waits this many times longer ... */
  factor: number;
  /** ... up to this. */
  maxMs: number;
}

/** Retries of a failed run: 1 s, doubling, at most 10 minutes. */
export const RETRY_BACKOFF: BackoffPolicy = { baseMs: 1000, factor: 2, maxMs: 10 * 60_000 };

/** The watchdog's restarts of a crashed scheduler: 1 s, doubling, at most 60 s. */
export const RESTART_BACKOFF: BackoffPolicy = { baseMs: 1000, factor: 2, maxMs: 60_000 };

/** The delay before trying again after the `failures`-th failure in a row (1 for the first). */
export function backoffDelayMs(policy: BackoffPolicy, failures: number): number {
  return Math.min(policy.baseMs * policy.factor ** (Math.max(1, failures) - 1), policy.maxMs);
}

/**
 * Failures in a row once one more has happened after running for `ranMs`: a run longer than
 * `healthyMs` was good running, so the count starts afresh at this failure.
 */
export function failuresInARow(before: number, ranMs: number, healthyMs: number): number {
  return ranMs > healthyMs ? 1 : before + 1;
}

export interface CrashWindow {
  windowMs: number;
  /** This many crashes within windowMs: give up. */
  maxCrashes: number;
}

/** The watchdog gives up after 5 crashes within a minute. */
export const RESTART_CRASH_WINDOW: CrashWindow = { windowMs: 60_000, maxCrashes: 5 };

/** The crash times still inside the window at `nowMs` (a crash at nowMs included), oldest first. */
export function crashesInWindow(crashes: readonly number[], nowMs: number, window: CrashWindow): number[] {
  return [...crashes, nowMs].filter((at) => at >= nowMs - window.windowMs);
}

/** Whether that many crashes inside the window means giving up. */
export function tooManyCrashes(recent: readonly number[], window: CrashWindow): boolean {
  return recent.length >= window.maxCrashes;
}
