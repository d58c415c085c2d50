import type { Run } from './run.js';

/**
 * --max-concurrent: the runs executing across all jobs, and the ones waiting, in order, for a
 * place. With no cap every run is admitted at once.
 */
export class Admission {
  readonly executing = new Set<Run>();
  private readonly waiting: Run[] = [];

  constructor(private readonly maxConcurrent: number | null) {}

  /** Whether one more process may exist, with `others` (held or claiming) counted too. */
  hasRoom(others = 0): boolean {
    return this.maxConcurrent === null || this.executing.size + others < this.maxConcurrent;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  wait(run: Run): void {
    this.waiting.push(run);
  }

  /** Takes a run out of the queue (cancelled while waiting); false when it was not waiting. */
  remove(run: Run): boolean {
    const index = this.waiting.indexOf(run);
    if (index < 0) return false;
    this.waiting.splice(index, 1);
    return true;
  }

  /** The next waiting run, when there is room for it. */
  next(): Run | null {
    return this.waiting.length > 0 && this.hasRoom() ? this.waiting.shift()! : null;
  }
}
