// A toy run-event subscriber: what adding one takes (this file, and one entry in the daemon's
// list of subscribers; here passed through DaemonOptions.subscribers).
import type { ClaimedEvent, FinishedEvent, OutputEvent, RunSubscriber, StartedEvent } from '../../src/events/run-events.js';

export class FinishedCounter implements RunSubscriber {
  count = 0;
  finals = 0;
  /** Every event it heard, briefly, in order. */
  readonly seen: string[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  claimed(event: ClaimedEvent): void {
    this.seen.push(`claimed ${event.job} ${event.trigger.kind} ${event.claim}`);
  }

  started(event: StartedEvent): void {
    this.seen.push(`started ${event.job} attempt ${event.attempt}`);
  }

  output(event: OutputEvent): void {
    this.seen.push('line' in event ? `output ${event.job} ${event.stream}: ${event.line}` : `output ${event.job} truncated`);
  }

  finished(event: FinishedEvent): void {
    this.count++;
    if (event.final) this.finals++;
    this.seen.push(`finished ${event.job} ${event.record.outcome} exit ${event.result.exitCode} ${event.final ? 'final' : 'retried'}`);
    this.waiters = this.waiters.filter((waiter) => (this.finals >= waiter.count ? (waiter.resolve(), false) : true));
  }

  /** Resolves once `count` runs have ended for good; rejects at the deadline. */
  waitForFinals(count: number, timeoutMs: number): Promise<void> {
    if (this.finals >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.finals} of ${count} runs finished within ${timeoutMs} ms; seen: ${this.seen.join(', ')}`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }
}
