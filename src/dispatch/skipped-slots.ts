import type { NotRunEvent } from '../events/run-events.js';
import type { Skipped } from '../schedule/scheduler.js';

/** Slots the scheduler did not fire (clock jumps, stalls) as one notRun event, at the first of them. */
export function skippedSlots(job: string, skipped: Skipped): NotRunEvent {
  const count = `${skipped.atLeast ? 'at least ' : ''}${skipped.count} slot${skipped.count === 1 ? '' : 's'}`;
  return {
    type: 'notRun',
    job,
    scheduledAt: skipped.firstAt,
    outcome: skipped.outcome,
    reason: `${count} up to ${new Date(skipped.lastAt).toISOString()}: ${skipped.detail}`,
    cause: { kind: 'clock', skipped },
    recorded: false,
  };
}
