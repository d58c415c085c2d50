import type { Clock } from '../../src/schedule/clock.js';

/**
 * A clock with separate monotonic time (which drives timers) and a wall-clock offset (which
 * jumps), so tests can stall the process, jump the wall clock, or both.
 */
export class FakeClock implements Clock {
  private mono = 0;
  private wallOffset: number;
  private timers: { id: number; dueMono: number; callback: () => void }[] = [];
  private nextId = 1;
  readonly delays: number[] = [];

  constructor(startIso: string) {
    this.wallOffset = Date.parse(startIso);
  }

  now(): number {
    return this.mono + this.wallOffset;
  }

  monotonicNow(): number {
    return this.mono;
  }

  setTimer(callback: () => void, delayMs: number): unknown {
    this.delays.push(delayMs);
    const timer = { id: this.nextId++, dueMono: this.mono + delayMs, callback };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Lets time pass normally, running timers in order as they come due. */
  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.dueMono <= end).sort((a, b) => a.dueMono - b.dueMono)[0];
      if (next === undefined) break;
      this.mono = Math.max(this.mono, next.dueMono);
      this.clearTimer(next.id);
      next.callback();
    }
    this.mono = end;
  }

  /** The process is frozen for `ms` (suspend, SIGSTOP): no timer runs until it wakes. */
  stall(ms: number): void {
    this.mono += ms;
    this.advance(0);
  }

  /** Time spent inside a callback (a wake doing work): the clocks move, no timer runs meanwhile. */
  spend(ms: number): void {
    this.mono += ms;
  }

  /** The wall clock is set forward (positive) or back (negative); timers are unaffected. */
  jumpWall(ms: number): void {
    this.wallOffset += ms;
  }
}
