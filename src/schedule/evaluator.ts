import { Cron } from 'croner';
import type { ScheduleExpr } from '../crontab/types.js';

/**
 * croner as a pure evaluator of wall-clock slots. It always runs at UTC offset 0 on "wall time
 * as if it were UTC"; next-fire.ts maps wall slots to instants with Vixie's DST rules, which
 * croner's own zone handling does not follow exactly.
 *
 * A croner object costs about 80 kB, nearly all of it a 10,000-entry year table, so 10,000
 * jobs holding one each would need 800 MB. Evaluators are shared by pattern in an LRU, and
 * each drops its year table: schedd's patterns never restrict the year (croner then never reads
 * the table), which leaves about 3 kB per evaluator. Building one takes about 10 microseconds.
 *
 * The LRU holds 1,024: a burst of that many distinct patterns due together still finds each
 * cached when its next fire is computed, and 10,000 jobs with as many patterns (which no size
 * short of 10,000 would hold) keep 3 MB, not 11 MB: the detached scheduler's settled RSS went
 * from 90 to 82 MB. A miss costs one build (~10 us) per fire of that job.
 */

const MAX_CACHED = 1024;
const cache = new Map<string, Cron>();
const NO_YEARS: number[] = [];

/**
 * Frees croner's year table (a private field; croner's major version is pinned). Returns false,
 * harmlessly, if croner's layout has changed; a test watches for that.
 */
export function dropYearTable(cron: Cron): boolean {
  const pattern = (cron as unknown as { _states?: { pattern?: { year?: unknown; starYear?: boolean } } })._states?.pattern;
  if (pattern === undefined || pattern.starYear !== true || !Array.isArray(pattern.year)) return false;
  pattern.year = NO_YEARS;
  return true;
}

function evaluatorFor(expr: ScheduleExpr): Cron {
  const key = `${expr.pattern}${expr.domAndDow ? '&' : '|'}`;
  let cron = cache.get(key);
  if (cron !== undefined) {
    cache.delete(key);
  } else {
    // Never pass `name`: croner keeps named jobs in a global registry.
    cron = new Cron(expr.pattern, { utcOffset: 0, mode: '6-part', domAndDow: expr.domAndDow });
    dropYearTable(cron);
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
  // A field that matches nothing (`0 23-1 * * *`, accepted as cron accepts it) has no slots;
  // croner cannot express an empty field, so it is never asked.
  if (expr.never === true) return null;
  const next = evaluatorFor(expr).nextRun(new Date(wallMs));
  return next === null ? null : next.getTime();
}
