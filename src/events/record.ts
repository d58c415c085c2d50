import type { RunStore } from '../store/types.js';
import type { RunSubscriber } from './run-events.js';

/**
 * The run history as a subscriber: what happened to runs, written to the store. The claim is
 * not here: the dispatcher awaits it before the process runs (it decides whether the run runs).
 * The store never rejects (SafeStore), and keeps the order of the writes issued to it.
 */
export function recordRuns(store: Pick<RunStore, 'started' | 'finished' | 'retrying' | 'cancelled' | 'notRun'>): RunSubscriber {
  return {
    started: (event) => void store.started(event.run, event.pid, event.startedAt, event.attempt),
    finished: (event) => {
      void store.finished(event.run, event.record);
      // The failed attempt keeps a history row of its own (RUN.N): one 'ok' row alone hid it.
      if (!event.final) void store.retrying(event.run, event.retry.attemptId, event.retry.reason);
    },
    cancelled: (event) => void store.cancelled(event.run, event.reason),
    notRun: (event) => {
      // A lost run was marked by the store itself (recoverInFlight); a lost claim's slot is the winner's row.
      if (event.recorded || event.outcome === 'lost') return;
      void store.notRun(event.job, event.scheduledAt, event.outcome, event.reason);
    },
  };
}
