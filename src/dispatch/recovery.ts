import { processAlive } from '../runner/index.js';
import type { Entry } from '../crontab/types.js';
import type { Log } from '../log.js';
import { nextFire } from '../schedule/next-fire.js';
import type { RunRecord, RunStore } from '../store/types.js';
import type { RunEvents } from '../events/run-events.js';

/**
 * What happened while schedd was not running, worked out at start from the run history:
 * runs a dead daemon left in flight are lost; slots that fell in the downtime are missed, and
 * catch-up decides which of them run now.
 */

/** Missed slots recorded per job at most; the rest are counted in the log. */
const MAX_MISSED_RECORDED = 100;
/** catchup=all runs at most this many missed slots. */
export const MAX_CATCHUP_RUNS = 100;

/**
 * Marks the previous daemon's in-flight runs lost, saying whether their process lives on. The
 * store marks them (recoverInFlight); each becomes a notRun 'lost' event flagged recorded, so
 * the history is not written twice and the log still says it.
 */
export async function markLostRuns(store: Pick<RunStore, 'recoverInFlight'>, events: RunEvents): Promise<RunRecord[]> {
  // Asked once per run: the record and the log must say the same.
  const living = new Map<string, { alive: boolean; reason: string }>();
  const lost = await store.recoverInFlight((run) => {
    const isAlive = processAlive(run.pid);
    // attempt > 1 without a pid: the run was waiting to retry (its failed attempts have rows).
    const reason =
      run.pid === null
        ? run.attempt > 1
          ? `schedd stopped before attempt ${run.attempt} (a retry) started`
          : 'schedd stopped before this run started'
        : isAlive
          ? `schedd died while this ran; its process ${run.pid} is still running (not started again)`
          : `schedd died while this ran; its process ${run.pid} is gone`;
    living.set(run.runId, { alive: isAlive, reason });
    return reason;
  });
  for (const run of lost) {
    const seen = living.get(run.runId);
    events.emit({ type: 'notRun', job: run.job, scheduledAt: Date.parse(run.scheduledAt), outcome: 'lost', reason: seen?.reason ?? '', cause: { kind: 'lost', record: run, alive: seen?.alive ?? false }, recorded: true });
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

/** Reports missed slots (notRun events, recorded by events/record.ts) and returns the ones to run now, per the job's catchup option. */
export function planCatchUp(events: RunEvents, log: Log, missed: readonly Missed[]): { entry: Entry; slots: number[] }[] {
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
    for (const at of slots) {
      if (!run.has(at)) events.emit({ type: 'notRun', job: entry.id, scheduledAt: at, outcome: 'missed', reason: 'schedd was not running', cause: { kind: 'downtime' }, recorded: false });
    }
    const total = slots.length + more;
    log.warn(
      { job: entry.id, count: total, scheduledAt: new Date(slots[0]!).toISOString() },
      `missed ${total} slot${total === 1 ? '' : 's'} while schedd was not running${toRun.length > 0 ? `; catching up ${toRun.length} (catchup=${policy})` : ''}`,
    );
    if (toRun.length > 0) runs.push({ entry, slots: toRun });
  }
  return runs;
}
