import { processAlive } from '../runner/process-group.js';
import type { Entry } from '../crontab/types.js';
import type { Log } from '../log.js';
import { nextFire } from '../schedule/next-fire.js';
import type { RunRecord, RunStore } from '../store/types.js';

/**
 * What happened while schedd was not running, worked out at start from the run history:
 * runs a dead daemon left in flight are lost; slots that fell in the downtime are missed, and
 * catch-up decides which of them run now.
 */

/** Missed slots recorded per job at most; the rest are counted in the log. */
const MAX_MISSED_RECORDED = 100;
/** catchup=all runs at most this many missed slots. */
export const MAX_CATCHUP_RUNS = 100;

/** Marks the previous daemon's in-flight runs lost, saying whether their process lives on. */
export function markLostRuns(store: RunStore, log: Log): RunRecord[] {
  // Asked once per run: the record and the log must say the same.
  const living = new Map<string, boolean>();
  const lost = store.takeInFlight((run) => {
    const isAlive = processAlive(run.pid);
    living.set(run.runId, isAlive);
    // attempt > 1 without a pid: the run was waiting to retry (its failed attempts have rows).
    if (run.pid === null) return run.attempt > 1 ? `schedd stopped before attempt ${run.attempt} (a retry) started` : 'schedd stopped before this run started';
    return isAlive ? `schedd died while this ran; its process ${run.pid} is still running (not started again)` : `schedd died while this ran; its process ${run.pid} is gone`;
  });
  for (const run of lost) {
    log.warn({ job: run.job, run: run.runId, pid: run.pid, scheduledAt: run.scheduledAt, reason: living.get(run.runId) ? 'still running' : 'gone' }, 'run lost: schedd died while it was in flight');
  }
  return lost;
}

export interface Missed {
  entry: Entry;
  slots: number[];
  /** Slots beyond those enumerated. */
  more: number;
}

/**
 * The slots of each job after the later of its last recorded slot and the last sign of life of
 * the previous daemon, up to now. Nothing on the very first start (no history).
 */
export function findMissed(entries: readonly Entry[], zoneOf: (entry: Entry) => string, lastSlots: ReadonlyMap<string, number>, lastAlive: number | null, now: number): Missed[] {
  if (lastAlive === null) return [];
  const missed: Missed[] = [];
  for (const entry of entries) {
    if (entry.schedule.kind === 'reboot') continue;
    const from = Math.max(lastSlots.get(entry.id) ?? lastAlive, lastAlive);
    const slots: number[] = [];
    let more = 0;
    for (let fire = nextFire(entry.schedule, zoneOf(entry), from); fire !== null && fire.at <= now; fire = nextFire(entry.schedule, zoneOf(entry), fire.at)) {
      if (slots.length < MAX_MISSED_RECORDED) slots.push(fire.at);
      else if (++more >= 100_000) break; // a per-second job after a long downtime: enough counting
    }
    if (slots.length > 0) missed.push({ entry, slots, more });
  }
  return missed;
}

/** Records missed slots and returns the ones to run now, per the job's catchup option. */
export function planCatchUp(store: RunStore, log: Log, missed: readonly Missed[]): { entry: Entry; slots: number[] }[] {
  const runs: { entry: Entry; slots: number[] }[] = [];
  for (const { entry, slots, more } of missed) {
    const policy = entry.options.catchup ?? 'none';
    let toRun: number[] = [];
    if (policy === 'once') toRun = [slots[slots.length - 1]!];
    if (policy === 'all') {
      toRun = slots.slice(0, MAX_CATCHUP_RUNS);
      if (slots.length + more > MAX_CATCHUP_RUNS) {
        log.warn({ job: entry.id, count: slots.length + more }, `catchup=all: ${slots.length + more} missed slots, running the first ${MAX_CATCHUP_RUNS}`);
      }
    }
    const run = new Set(toRun);
    for (const at of slots) if (!run.has(at)) store.notRun(entry.id, at, 'missed', 'schedd was not running');
    const total = slots.length + more;
    log.warn(
      { job: entry.id, count: total, scheduledAt: new Date(slots[0]!).toISOString() },
      `missed ${total} slot${total === 1 ? '' : 's'} while schedd was not running${toRun.length > 0 ? `; catching up ${toRun.length} (catchup=${policy})` : ''}`,
    );
    if (toRun.length > 0) runs.push({ entry, slots: toRun });
  }
  return runs;
}
