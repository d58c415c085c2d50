// Slots that passed while the scheduler was not looking (a stall, a jump): the few it needs
// out of possibly thousands, and what a stall is called.
import { nextFire, type Fire } from './next-fire.js';
import type { ScheduleExpr } from '../crontab/types.js';

/** What a stall is called in the history and the log. */
export function stallDetail(driftMs: number): string {
  return `schedd was stalled for ${Math.round(driftMs / 1000)} s (process stopped or machine suspended)`;
}

/**
 * The last two slots of a schedule after `floor` and at or before `now` (fewer when there are
 * not two), oldest first: enumerated over growing spans back from now, so that a per-second job
 * costs a few steps rather than the thousands since `floor`.
 */
export function latestDue(schedule: ScheduleExpr, zone: string, now: number, floor: number): Fire[] {
  for (const backMs of [1000, 60_000, 3_600_000, 3 * 3_600_000]) {
    const from = Math.max(floor, now - backMs);
    const last: Fire[] = [];
    for (let fire = nextFire(schedule, zone, from); fire !== null && fire.at <= now; fire = nextFire(schedule, zone, fire.at)) {
      last.push(fire);
      if (last.length > 2) last.shift();
    }
    if (last.length === 2 || from === floor) return last;
  }
  return [];
}
