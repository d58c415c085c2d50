import { performance } from 'node:perf_hooks';

/** Time as the scheduler sees it; tests inject a fake one. */
export interface Clock {
  /** Wall-clock time, epoch ms. */
  now(): number;
  /**
   * Monotonic time, ms from an arbitrary origin: it runs on while the process is stopped
   * (SIGSTOP), though not while the machine sleeps, and never moves with the wall clock when
   * that is set. Comparing the two tells a stalled process from a clock that was changed.
   */
  monotonicNow(): number;
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicNow: () => performance.now(),
  setTimer: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
