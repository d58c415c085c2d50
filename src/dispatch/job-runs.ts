import type { Pending, Run } from './run.js';

/** One job in the dispatcher: its active Runs, and the slots waiting for it to go idle. */
export class JobRuns {
  readonly active = new Set<Run>();
  /** overlap=queue: the one slot waiting for the job to go idle. */
  queued: Pending | null = null;
  /** overlap=replace: the slot to start once the stopped runs have exited. */
  replacement: Pending | null = null;
  /** catchup=all: missed slots still to run, oldest first, one after another. */
  backlog: Pending[] = [];

  /** Drops every slot waiting for the job (schedd stops, the job was removed). */
  dropPending(): void {
    this.queued = null;
    this.replacement = null;
    this.backlog = [];
  }

  /** The slot to run now that the job is idle: a replacement, else the backlog's next, else the queued one. */
  takeNext(): Pending | null {
    if (this.replacement !== null) {
      const next = this.replacement;
      this.replacement = null;
      return next;
    }
    const next = this.backlog.shift() ?? this.queued;
    if (next === this.queued) this.queued = null;
    return next;
  }
}
