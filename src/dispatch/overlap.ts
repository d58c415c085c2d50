import type { OverlapPolicy } from '../crontab/types.js';

/** What a slot that comes now becomes, given the job's overlap policy and its runs. */
export type OverlapDecision =
  | { action: 'start' }
  | { action: 'skip'; why: string; policy: 'skip' | 'queue' }
  | { action: 'queue' }
  | { action: 'replace' };

// Shared, never mutated: the firing path allocates nothing to decide.
const START: OverlapDecision = { action: 'start' };
const QUEUE: OverlapDecision = { action: 'queue' };
const REPLACE: OverlapDecision = { action: 'replace' };
const STILL_ACTIVE: OverlapDecision = { action: 'skip', why: 'previous run still active', policy: 'skip' };
const ALREADY_QUEUED: OverlapDecision = { action: 'skip', why: 'a run is already queued', policy: 'queue' };

/**
 * skip (the default): dropped while a run is active; allow: a second run; queue: kept as the one
 * waiting run (a further slot is skipped); replace: the active runs are stopped first.
 */
export function decideOverlap(policy: OverlapPolicy, activeRuns: number, hasQueued: boolean): OverlapDecision {
  if (activeRuns === 0 || policy === 'allow') return START;
  if (policy === 'skip') return STILL_ACTIVE;
  if (policy === 'queue') return hasQueued ? ALREADY_QUEUED : QUEUE;
  return REPLACE;
}
