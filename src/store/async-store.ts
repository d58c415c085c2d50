import { hostname } from 'node:os';
import type { SafeStore } from './safe-store.js';
import type { ClaimResult, RunStore } from './types.js';

/**
 * Interim: today's synchronous SafeStore seen through the async RunStore interface (the SQL is
 * still done inside each call, so write order and batching are unchanged). A claim is 'won'
 * when the write reached a working store (run ids are unique, so it cannot be lost yet) and
 * 'unrecorded' when the store is down. Goes away when the store itself is async.
 */
export function asyncStore(store: SafeStore): RunStore {
  const done = Promise.resolve();
  return {
    node: hostname(),
    claim(runId, job, scheduledAt): Promise<ClaimResult> {
      store.claim(runId, job, scheduledAt);
      return Promise.resolve(store.healthy ? 'won' : 'unrecorded');
    },
    started: (...args) => (store.started(...args), done),
    finished: (...args) => (store.finished(...args), done),
    retrying: (...args) => (store.retrying(...args), done),
    cancelled: (...args) => (store.cancelled(...args), done),
    notRun: (...args) => (store.notRun(...args), done),
    recoverInFlight: (reason) => Promise.resolve(store.takeInFlight(reason)),
    lastSlots: () => Promise.resolve(store.lastSlots()),
    heartbeat: (at) => (store.heartbeat(at), done),
    lastHeartbeat: () => Promise.resolve(store.lastHeartbeat()),
    setCrontab: (path) => (store.setCrontab(path), done),
    crontab: () => Promise.resolve(store.crontab()),
    history: (job, limit) => Promise.resolve(store.history(job, limit)),
    output: (job, runId) => Promise.resolve(store.output(job, runId)),
    lastRuns: () => Promise.resolve(store.lastRuns()),
    recentFailures: () => Promise.resolve([]),
    close: () => (store.close(), done),
  };
}
