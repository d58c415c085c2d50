// Checks a simulation's fires and skips against the oracle's slots, rule by rule, and counts
// what it checked for the scenario's figures.
import { isFixedTime, oracleSlots, transitionsIn, wallAt, type SimJob, type SimResult } from './time-sim.js';

const MINUTE = 60_000;

export interface TimeStats {
  runs: number;
  slotsChecked: number;
  gapEndSlots: number;
  secondPassWildcardSlots: number;
  secondPassFixedSuppressed: number;
  transitionsCrossed: number;
  jumps: number;
  skippedReported: number;
  doubled: number;
  lost: number;
}

export function emptyStats(): TimeStats {
  return { runs: 0, slotsChecked: 0, gapEndSlots: 0, secondPassWildcardSlots: 0, secondPassFixedSuppressed: 0, transitionsCrossed: 0, jumps: 0, skippedReported: 0, doubled: 0, lost: 0 };
}

function iso(zone: string, ms: number): string {
  return `${new Date(ms).toISOString()} (wall ${new Date(wallAt(zone, ms)).toISOString().slice(0, 16)})`;
}

/** Jobs that exercise a zone's transitions in a year, and a few that every zone gets. */
export function jobsFor(zone: string, year: number): SimJob[] {
  const jobs: SimJob[] = [
    { name: 'every-minute', minute: '*', hour: '*' },
    { name: 'quarter', minute: '*/15', hour: '*' },
    { name: 'fixed-morning', minute: '5,35', hour: '0,1,2,3,4,5' },
  ];
  const hm = (wall: number): [number, number] => [new Date(wall).getUTCHours(), new Date(wall).getUTCMinutes()];
  transitionsIn(zone, year).forEach((tr, i) => {
    const startWall = tr.at + Math.min(tr.offsetBeforeMs, tr.offsetAfterMs);
    const lengthMs = Math.abs(tr.offsetAfterMs - tr.offsetBeforeMs);
    const [h0, m0] = hm(startWall);
    const [hMid, mMid] = hm(startWall + lengthMs / 2);
    if (tr.offsetAfterMs > tr.offsetBeforeMs) {
      // Spring forward: wall times [startWall, startWall + length) do not exist.
      jobs.push({ name: `gap${i}-mid`, minute: String(mMid), hour: String(hMid) });
      jobs.push(h0 === hMid ? { name: `gap${i}-pair`, minute: `${m0},${mMid}`, hour: String(h0) } : { name: `gap${i}-start`, minute: String(m0), hour: String(h0) });
      jobs.push({ name: `gap${i}-hour-any-minute`, minute: '*', hour: String(h0) });
    } else {
      // Fall back: wall times [startWall, startWall + length) happen twice.
      jobs.push({ name: `overlap${i}-mid`, minute: String(mMid), hour: String(hMid) });
      jobs.push({ name: `overlap${i}-hour-every-10`, minute: '*/10', hour: String(h0) });
    }
  });
  return jobs;
}

/**
 * Every invariant of README's "Time, DST and clock jumps" that a simulation can show. Throws
 * with the first violation; adds what it checked to `stats`.
 */
export function checkSimulation(zone: string, jobs: readonly SimJob[], result: SimResult, stats: TimeStats): void {
  const { events, startMs, horizonMs } = result;
  const fail = (message: string): never => {
    throw new Error(`${zone}, start ${iso(zone, startMs)}, horizon ${iso(zone, horizonMs)}: ${message}\nevents: ${JSON.stringify(events.slice(0, 200))}`);
  };
  const counters = { secondPassFixed: 0 };
  const oracle = oracleSlots(zone, jobs, startMs, horizonMs, counters);
  const jumpKinds = new Set(events.filter((e) => e.kind === 'jump').map((e) => e.jumpKind));
  if (jumpKinds.has('correction') && events.some((e) => e.kind === 'jump' && e.jumpKind === 'correction' && e.at < 0)) {
    fail('the simulation only jumps back by up to 3 h');
  }
  for (const job of jobs) {
    const fixed = isFixedTime(job);
    const slots = oracle.get(job.name)!;
    const own = events.filter((e) => e.job === job.name);
    const fired = new Map<number, number>();
    for (const event of own) {
      if (event.kind !== 'fire') continue;
      fired.set(event.at, (fired.get(event.at) ?? 0) + 1);
      const kind = slots.get(event.at);
      if (kind === undefined) fail(`${job.name} (${job.minute} ${job.hour}) fired at ${iso(zone, event.at)}, which is not one of its slots`);
      if ((kind === 'gap-end') !== (event.cause === 'dst-gap')) fail(`${job.name} fired ${iso(zone, event.at)} with cause ${event.cause}, but the oracle says ${kind}`);
    }
    for (const [at, count] of fired) {
      if (count > 1) {
        stats.doubled++;
        fail(`${job.name} fired the slot ${iso(zone, at)} ${count} times`);
      }
    }
    // Every slot is accounted for exactly once: fired, or inside one skip report.
    const skipped = new Map<number, string>();
    for (const event of own) {
      if (event.kind !== 'skip') continue;
      const skip = event.skipped!;
      if (fixed && skip.reason === 'clock-jump') fail(`fixed-time ${job.name} had slots skipped by a jump under 3 h: ${JSON.stringify(skip)}`);
      // The simulation's stalls are all under 3 h: a fixed-time job fires every slot they passed.
      if (fixed && skip.reason === 'stall') fail(`fixed-time ${job.name} had slots missed in a stall under 3 h: ${JSON.stringify(skip)}`);
      if (skip.reason === 'stall' && !jumpKinds.has('stall')) fail(`${job.name}: a stall miss without a stall: ${JSON.stringify(skip)}`);
      if ((skip.outcome === 'missed') !== (skip.reason === 'stall')) fail(`${job.name}: slots of a stall are missed, all others skipped: ${JSON.stringify(skip)}`);
      if (skip.reason === 'clock-correction' && !jumpKinds.has('correction')) fail(`${job.name}: a correction skip without a correction: ${JSON.stringify(skip)}`);
      if (skip.reason === 'clock-jump' && !jumpKinds.has('forward')) fail(`${job.name}: a jump skip without a forward jump: ${JSON.stringify(skip)}`);
      if (skip.reason === 'too-many') fail(`${job.name}: too-many skip in a minute-level simulation: ${JSON.stringify(skip)}`);
      const inside = [...slots.keys()].filter((at) => at >= skip.firstAt && at <= skip.lastAt);
      if (!skip.atLeast && inside.length !== skip.count) fail(`${job.name}: skip report says ${skip.count} slots in ${iso(zone, skip.firstAt)}..${iso(zone, skip.lastAt)}, the oracle has ${inside.length}`);
      for (const at of inside) {
        if (skipped.has(at) || fired.has(at)) fail(`${job.name}: slot ${iso(zone, at)} both fired and skipped, or skipped twice`);
        skipped.set(at, skip.reason);
      }
      stats.skippedReported += inside.length;
    }
    for (const [at, kind] of slots) {
      if (!fired.has(at) && !skipped.has(at)) {
        stats.lost++;
        fail(`${job.name} (${job.minute} ${job.hour}, ${fixed ? 'fixed-time' : 'wildcard'}): slot ${iso(zone, at)} (${kind}) neither fired nor reported skipped`);
      }
      stats.slotsChecked++;
      if (kind === 'gap-end') stats.gapEndSlots++;
      if (kind === 'second-pass') stats.secondPassWildcardSlots++;
    }
    // A jump forward under 3 h fires a wildcard job once for now, however many slots it skipped;
    // so does a stall (the slots that wake fires are the ones up to its wall time).
    if (!fixed) {
      let sinceJump = 0;
      let stall: { wakeAt: number; fired: number } | null = null;
      for (const event of events) {
        if (event.kind === 'jump') {
          sinceJump = 0;
          stall = event.jumpKind === 'stall' ? { wakeAt: event.wakeAt!, fired: 0 } : null;
        } else if (event.job === job.name && event.kind === 'fire') {
          if (event.cause === 'clock-jump' && ++sinceJump > 1) fail(`wildcard ${job.name} fired more than once for one jump`);
          if (stall !== null && event.at <= stall.wakeAt && ++stall.fired > 1) fail(`wildcard ${job.name} fired more than once for one stall`);
        }
      }
    }
    // Without a stall or a jump forward beyond 5 s, nothing may be skipped: a late wake drops nothing.
    if (!jumpKinds.has('forward') && !jumpKinds.has('correction') && !jumpKinds.has('stall') && skipped.size > 0) fail(`${job.name}: slots skipped without a jump or a stall: ${[...skipped.keys()].map((at) => iso(zone, at)).join(', ')}`);
  }
  stats.secondPassFixedSuppressed += counters.secondPassFixed;
  stats.transitionsCrossed += transitionsIn(zone, new Date(startMs).getUTCFullYear()).filter((tr) => tr.at > startMs && tr.at <= horizonMs).length;
  stats.jumps += result.jumps;
  stats.runs++;
}

export { MINUTE };
