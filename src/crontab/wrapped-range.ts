import type { FieldName } from './types.js';

/**
 * What a reversed range (`23-1`, `fri-mon`) was probably meant to say: the values from low up
 * to the field's end, then on from its start to high (`23,0,1`, `fri,sat,sun,mon`). Vixie cron
 * sets no value for such a range; this only words the warning.
 */

interface Cycle {
  min: number;
  /** Number of distinct values: day-of-week has 7 (7 is Sunday again). */
  size: number;
  names?: readonly string[];
  nameBase: number;
}

export function wrappedForm(cycle: Cycle, name: FieldName, low: number, high: number, step: number, asNames: boolean): string {
  const fold = (v: number): number => (name === 'day-of-week' ? v % 7 : v);
  const from = fold(low);
  const to = fold(high);
  const distance = (((to - from) % cycle.size) + cycle.size) % cycle.size;
  const values: number[] = [];
  for (let offset = 0; offset <= distance; offset += step) {
    values.push(cycle.min + ((from - cycle.min + offset) % cycle.size));
  }
  const show = (v: number): string => (asNames && cycle.names ? cycle.names[v - cycle.nameBase]! : String(v));
  if (step !== 1) return values.map(show).join(',');
  // Consecutive runs: three or more as a range, shorter ones listed.
  const parts: string[] = [];
  let runStart = 0;
  for (let i = 1; i <= values.length; i++) {
    if (i < values.length && values[i] === values[i - 1]! + 1) continue;
    const run = values.slice(runStart, i);
    parts.push(run.length >= 3 ? `${show(run[0]!)}-${show(run[run.length - 1]!)}` : run.map(show).join(','));
    runStart = i;
  }
  return parts.join(',');
}
