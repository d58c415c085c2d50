// The in-process half of the time scenario: the real Scheduler on a FakeClock, driven through
// DST transitions and wall-clock jumps, checked against an oracle that knows only Vixie's
// rules and what Intl says the wall time is at each minute (not schedd's zone tables).
import { parseCrontab } from '../../src/crontab/parse.js';
import { MAX_WAIT_MS, Scheduler, type FireCause, type Skipped } from '../../src/schedule/scheduler.js';
import { FakeClock } from '../helpers/fake-clock.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A job of the simulation: cron fields as lists (null = `*` or a step, i.e. not fixed). */
export interface SimJob {
  name: string;
  /** Minute and hour fields as written in the crontab. */
  minute: string;
  hour: string;
}

/** Expands a minute/hour field of the small grammar the simulation uses: `*`, `*\/n`, `a,b`. */
function expand(field: string, max: number): Set<number> {
  if (field === '*') return new Set(Array.from({ length: max + 1 }, (_, i) => i));
  const step = /^\*\/(\d+)$/.exec(field);
  if (step !== null) return new Set(Array.from({ length: max + 1 }, (_, i) => i).filter((i) => i % Number(step[1]) === 0));
  return new Set(field.split(',').map(Number));
}

/** Vixie's definition: fixed-time unless the minute or the hour field starts with `*`. */
export function isFixedTime(job: SimJob): boolean {
  return !job.minute.startsWith('*') && !job.hour.startsWith('*');
}

export type Action = { kind: 'advance'; ms: number } | { kind: 'stall'; ms: number } | { kind: 'jump'; ms: number };

export interface SimEvent {
  kind: 'fire' | 'skip' | 'jump';
  job: string;
  at: number;
  cause?: FireCause;
  skipped?: Skipped;
  /** `stall`: the process was stopped (both clocks moved), not the wall clock set. */
  jumpKind?: 'forward' | 'backward' | 'correction' | 'stall';
  /** Of a stall: the wall time of the wake that found it. */
  wakeAt?: number;
}

export interface SimResult {
  events: SimEvent[];
  startMs: number;
  /** The latest wall time the scheduler read: every slot up to it has been handled. */
  horizonMs: number;
  jumps: number;
}

/** Runs `jobs` in `zone` from `startMs` through `actions`, then lets a normal minute pass. */
export function simulate(zone: string, jobs: readonly SimJob[], startMs: number, actions: readonly Action[]): SimResult {
  const clock = new (class extends FakeClock {
    horizonMs = 0;
    override now(): number {
      const now = super.now();
      this.horizonMs = Math.max(this.horizonMs, now);
      return now;
    }
  })(new Date(startMs).toISOString());
  const events: SimEvent[] = [];
  const scheduler = new Scheduler(clock, zone, {
    fire: (job, fire, cause) => void events.push({ kind: 'fire', job: job.id, at: fire.at, cause }),
    skip: (job, skipped) => void events.push({ kind: 'skip', job: job.id, at: skipped.firstAt, skipped }),
    clockJump: (deltaMs, kind) => void events.push({ kind: 'jump', job: '', at: deltaMs, jumpKind: kind }),
    stalled: (stalledMs) => void events.push({ kind: 'jump', job: '', at: stalledMs, jumpKind: 'stall', wakeAt: clock.now() }),
    error: (job, error) => {
      throw new Error(`listener error for ${job.id}: ${String(error)}`);
    },
  });
  const text = jobs.map((job) => `# schedd: name=${job.name}\n${job.minute} ${job.hour} * * * true\n`).join('');
  const parsed = parseCrontab(text);
  const errors = parsed.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(`simulation crontab invalid: ${JSON.stringify(errors)}\n${text}`);
  scheduler.update(parsed.entries);
  scheduler.start();
  let jumps = 0;
  for (const action of actions) {
    if (action.kind === 'advance') clock.advance(action.ms);
    else if (action.kind === 'stall') clock.stall(action.ms);
    else {
      // One wake (at most MAX_WAIT_MS away) sees the jump alone, so its size decides its kind.
      clock.jumpWall(action.ms);
      clock.advance(MAX_WAIT_MS);
      jumps++;
    }
  }
  clock.advance(2 * MAX_WAIT_MS);
  scheduler.stop();
  // The last wake was within MAX_WAIT_MS of the end: slots up to the latest wall time read are handled.
  return { events, startMs, horizonMs: clock.horizonMs, jumps };
}

const wallFormatters = new Map<string, Intl.DateTimeFormat>();

/** Wall time at an instant in a zone, as epoch ms of the same fields in UTC (Intl only). */
export function wallAt(zone: string, instantMs: number): number {
  let format = wallFormatters.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    wallFormatters.set(zone, format);
  }
  const f: Record<string, number> = {};
  for (const part of format.formatToParts(new Date(instantMs))) f[part.type] = Number(part.value);
  return Date.UTC(f.year!, f.month! - 1, f.day!, f.hour!, f.minute!, f.second!);
}

export type SlotKind = 'plain' | 'gap-end' | 'second-pass';

/**
 * Vixie's slots of each job between two instants, from the wall time at every minute:
 * - a wildcard job fires at every instant whose wall time matches (both passes of an overlap;
 *   nothing in a gap, where no instant has those wall times);
 * - a fixed-time job fires at an instant whose wall time matches and is later than every wall
 *   time before it (the first pass only), and once at the first instant after a gap when any
 *   wall time in the gap matches.
 * Instants are whole minutes: every offset in the zones used is a whole number of minutes.
 */
export function oracleSlots(zone: string, jobs: readonly SimJob[], fromMs: number, toMs: number, stats = { secondPassFixed: 0 }): Map<string, Map<number, SlotKind>> {
  const slots = new Map<string, Map<number, SlotKind>>(jobs.map((job) => [job.name, new Map()]));
  const fields = jobs.map((job) => ({ job, fixed: isFixedTime(job), minutes: expand(job.minute, 59), hours: expand(job.hour, 23) }));
  const matches = (f: (typeof fields)[number], wall: number): boolean => {
    const date = new Date(wall);
    return f.minutes.has(date.getUTCMinutes()) && f.hours.has(date.getUTCHours());
  };
  // Wall times already passed before `fromMs` count: a start in a second pass is a second pass.
  let t = Math.ceil((fromMs - 3 * HOUR) / MINUTE) * MINUTE;
  let previousWall = wallAt(zone, t);
  let maxWall = previousWall;
  for (t += MINUTE; t <= toMs; t += MINUTE) {
    const wall = wallAt(zone, t);
    const inRange = t > fromMs;
    for (const f of fields) {
      const own = slots.get(f.job.name)!;
      if (!inRange) continue;
      if (f.fixed) {
        if (matches(f, wall)) {
          if (wall > maxWall) own.set(t, 'plain');
          else stats.secondPassFixed++;
        }
        // A gap: wall minutes strictly between the previous minute's wall time and this one's.
        if (wall - previousWall > MINUTE && !own.has(t)) {
          for (let w = previousWall + MINUTE; w < wall; w += MINUTE) {
            if (w > maxWall && matches(f, w)) {
              own.set(t, 'gap-end');
              break;
            }
          }
        }
      } else if (matches(f, wall)) {
        own.set(t, wall <= maxWall ? 'second-pass' : 'plain');
      }
    }
    previousWall = wall;
    maxWall = Math.max(maxWall, wall);
  }
  return slots;
}

/** The transitions of a zone in a year, found with Intl by sampling hours and bisecting minutes. */
export function transitionsIn(zone: string, year: number): { at: number; offsetBeforeMs: number; offsetAfterMs: number }[] {
  const found: { at: number; offsetBeforeMs: number; offsetAfterMs: number }[] = [];
  const offset = (t: number): number => wallAt(zone, t) - t;
  const end = Date.UTC(year + 1, 0, 1);
  let t = Date.UTC(year, 0, 1);
  let before = offset(t);
  for (let next = t + 6 * HOUR; next <= end; t = next, next += 6 * HOUR) {
    const after = offset(next);
    if (after === before) continue;
    let lo = t;
    let hi = next;
    while (hi - lo > MINUTE) {
      const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
      if (offset(mid) === before) lo = mid;
      else hi = mid;
    }
    found.push({ at: hi, offsetBeforeMs: before, offsetAfterMs: after });
    before = after;
  }
  return found;
}
