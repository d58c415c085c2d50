import type { LastRunView } from '../job-view.js';
import type { FinishedEvent, ForgottenEvent, RunSubscriber } from './run-events.js';

export interface LastRun extends LastRunView {
  run: string;
}

/** The last attempt each job finished, in memory: what `status` and `list` show as the last run. */
export class LastRuns implements RunSubscriber {
  private readonly runs = new Map<string, LastRun>();

  get(jobId: string): LastRun | null {
    return this.runs.get(jobId) ?? null;
  }

  finished(event: FinishedEvent): void {
    const { result } = event;
    this.runs.set(event.job, {
      run: event.run,
      startedAt: new Date(result.startedAt).toISOString(),
      finishedAt: new Date(result.finishedAt).toISOString(),
      exitCode: result.exitCode,
      signal: result.signal,
      outcome: event.record.outcome,
    });
  }

  /** Nothing left of a removed job (a renamed job would pile up). */
  forgotten(event: ForgottenEvent): void {
    this.runs.delete(event.job);
  }
}
