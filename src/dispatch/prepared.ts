import type { Entry } from '../crontab/types.js';
import type { RunHandle } from '../runner/index.js';

/** A process started ahead of a slot and held at its gate (see SchedulerListener.prepare). */
export interface Prepared {
  entry: Entry;
  scheduledAt: number;
  runId: string;
  handle: RunHandle;
  dead: boolean;
}

/**
 * The held processes, at most one per job: at the slot the process is released (it has
 * already paid for fork and exec), or aborted when the slot does not run it.
 */
export class PreparedRuns {
  private readonly held = new Map<string, Prepared>();

  get size(): number {
    return this.held.size;
  }

  hold(entry: Entry, scheduledAt: number, runId: string, handle: RunHandle): void {
    this.drop(entry.id);
    const prepared: Prepared = { entry, scheduledAt, runId, handle, dead: false };
    void handle.done.then(() => (prepared.dead = true));
    this.held.set(entry.id, prepared);
  }

  /** Drops a held process that will not be used. */
  drop(jobId: string): void {
    const prepared = this.held.get(jobId);
    if (prepared === undefined) return;
    this.held.delete(jobId);
    prepared.handle.abort();
  }

  dropAll(): void {
    for (const id of [...this.held.keys()]) this.drop(id);
  }

  /** The held process for exactly this entry and slot, if there is a live one; any other is dropped. */
  take(entry: Entry, scheduledAt: number): Prepared | null {
    const prepared = this.held.get(entry.id);
    if (prepared === undefined) return null;
    this.held.delete(entry.id);
    if (prepared.entry === entry && prepared.scheduledAt === scheduledAt && !prepared.dead) return prepared;
    prepared.handle.abort();
    return null;
  }
}
