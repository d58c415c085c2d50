import { nextWallSlot } from './evaluator.js';
import { nextTransition, offsetAt, previousTransition } from './zone.js';
import type { ScheduleExpr } from '../crontab/types.js';

/**
 * When does a schedule fire next, in a zone, after an instant? Vixie cron's DST rules:
 *
 * - A fixed-time job (minute and hour fields not starting with `*`) whose slot falls in a
 *   spring-forward gap fires once, at the first instant after the gap; in a fall-back overlap it
 *   fires in the first pass only.
 * - A wildcard job has no slots in a gap and fires in both passes of an overlap.
 *
 * The zone's offset is constant between transitions, so the search walks those segments: within
 * one, a wall slot maps to exactly one instant; at its end, the gap or overlap rule applies.
 * Several fixed-time slots inside one gap become a single run at the end of the gap.
 */

export interface Fire {
  /** The instant to fire (epoch ms). */
  at: number;
  /** The wall-clock slot (local time as epoch-ms-at-UTC) this fire stands for. */
  slotWall: number;
  /** Set when DST moved the slot: the slot fell in a spring-forward gap. */
  shifted?: 'dst-gap';
}

const HORIZON_MS = 400 * 86_400_000;
const MAX_SEGMENTS = 256;

export function nextFire(expr: ScheduleExpr, zone: string, afterMs: number): Fire | null {
  if (expr.kind === 'reboot' || expr.never === true) return null;
  let from = afterMs;
  // After the first segment the search starts exactly at a transition, which is itself a
  // candidate instant: `inclusive` moves the wall bound back by 1 ms so it is not skipped.
  let inclusive = false;
  for (let segment = 0; segment < MAX_SEGMENTS; segment++) {
    const offset = offsetAt(zone, from);
    const transition = nextTransition(zone, from, from + HORIZON_MS);
    const segmentEnd = transition?.at ?? from + HORIZON_MS;
    let wallFrom = from + offset - (inclusive ? 1 : 0);
    if (expr.fixedTime) {
      // Skip wall times that already occurred in the first pass of a fall-back.
      const previous = previousTransition(zone, from);
      if (previous !== null && previous.offsetBeforeMs > previous.offsetAfterMs) {
        const repeatEndWall = previous.at + previous.offsetBeforeMs;
        if (wallFrom < repeatEndWall - 1) wallFrom = repeatEndWall - 1;
      }
    }
    const wall = nextWallSlot(expr, wallFrom);
    if (wall === null) return null;
    if (wall < segmentEnd + offset) return { at: wall - offset, slotWall: wall };
    if (transition !== null && expr.fixedTime && transition.offsetAfterMs > transition.offsetBeforeMs) {
      const gapEndWall = transition.at + transition.offsetAfterMs;
      if (wall < gapEndWall) return { at: transition.at, slotWall: wall, shifted: 'dst-gap' };
    }
    from = segmentEnd;
    inclusive = true;
  }
  return null;
}

/** The next `count` fires after an instant. */
export function nextFires(expr: ScheduleExpr, zone: string, afterMs: number, count: number): Fire[] {
  const fires: Fire[] = [];
  let from = afterMs;
  while (fires.length < count) {
    const fire = nextFire(expr, zone, from);
    if (fire === null) break;
    fires.push(fire);
    from = fire.at;
  }
  return fires;
}
