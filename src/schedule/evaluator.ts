import { Cron } from 'croner';
import type { ScheduleExpr } from '../crontab/types.js';

/**
 * croner as a pure evaluator of wall-clock slots. It always runs at UTC offset 0 on "wall time
 * as if it were UTC"; next-fire.ts maps wall slots to instants with Vixie's DST rules, which
 * croner's own zone handling does not follow exactly.
 *
 * A croner object costs about 80 kB (a 10,000-entry year table), so evaluators are shared by
 * pattern and kept in a small LRU instead of one per job: 10,000 jobs would otherwise hold
 * 800 MB. Building one takes about 10 microseconds, so a miss is cheap.
 */

const MAX_CACHED = 256;
const cache = new Map<string, Cron>();

function evaluatorFor(expr: ScheduleExpr): Cron {
  const key = `${expr.pattern}${expr.domAndDow ? '&' : '|'}`;
  let cron = cache.get(key);
  if (cron !== undefined) {
    cache.delete(key);
  } else {
    // Never pass `name`: croner keeps named jobs in a global registry.
    cron = new Cron(expr.pattern, { utcOffset: 0, mode: '6-part', domAndDow: expr.domAndDow });
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
  }
  cache.set(key, cron);
  return cron;
}

/** Throws croner's message when it rejects the pattern (used to validate L/W/# forms). */
export function validatePattern(expr: ScheduleExpr): void {
  evaluatorFor(expr);
}

/** The first wall-clock slot strictly after `wallMs` (seconds resolution), or null if none. */
export function nextWallSlot(expr: ScheduleExpr, wallMs: number): number | null {
  const next = evaluatorFor(expr).nextRun(new Date(wallMs));
  return next === null ? null : next.getTime();
}
