import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorText, recorderCommand, sleep, waitUntil } from './common.js';
import { countLedger, readLedger, slotFigures, type SlotFigures } from './ledger.js';
import { startPeer, type PeerName } from './peers/start.js';
import type { PeerJob } from './peers/types.js';

/**
 * Firing lateness: groups of N jobs (1, 100, 1000) due at the same instants, each job recording
 * its own start. One scheduler process per peer holds every group; the groups' slots follow each
 * other, so a group's jobs fire alone. `second` slots use the seconds field (schedd, croner,
 * node-cron); `minute` slots are minute boundaries, the only instants cron can hit.
 */

export type SlotMode = 'second' | 'minute';

export interface GroupPlan {
  jobs: number;
  slotCount: number;
  /** Seconds between slots (second mode). */
  gapS: number;
}

export interface LatenessRow extends Partial<SlotFigures> {
  peer: PeerName;
  mode: SlotMode;
  jobs: number;
  slots: number;
  startMs?: number;
  /** The peer was ready only this long before the first slot (or after it, negative). */
  readyBeforeSlotMs?: number;
  /** Warnings the peer printed over the whole run (node-cron: one per firing it gave up on). */
  stderrLines?: number;
  stderrFirst?: string;
  error?: string;
}

/** 6-field schedules (seconds list per minute) for instants within the same or later minutes. */
function secondSchedules(slots: readonly number[]): string[] {
  const byMinute = new Map<number, number[]>();
  for (const ms of slots) {
    const minute = Math.floor(ms / 60_000);
    byMinute.set(minute, [...(byMinute.get(minute) ?? []), new Date(ms).getUTCSeconds()]);
  }
  return [...byMinute].map(([minute, seconds]) => {
    const d = new Date(minute * 60_000);
    return `${seconds.join(',')} ${d.getUTCMinutes()} ${d.getUTCHours()} ${d.getUTCDate()} ${d.getUTCMonth() + 1} *`;
  });
}

function minuteSchedules(slots: readonly number[]): string[] {
  return slots.map((ms) => {
    const d = new Date(ms);
    return `${d.getUTCMinutes()} ${d.getUTCHours()} ${d.getUTCDate()} ${d.getUTCMonth() + 1} *`;
  });
}

/** Lead time before the first slot: start-up, plus a few ms per job to prepare. */
function leadMs(totalJobs: number): number {
  return 2000 + totalJobs * 2;
}

/** `drainMs`: how long after the last slot a start still counts (a later one is a drop). */
export async function measureLateness(peer: PeerName, mode: SlotMode, plans: readonly GroupPlan[], drainMs = 15_000): Promise<LatenessRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  const ledger = join(dir, 'ledger');
  const totalJobs = plans.reduce((sum, p) => sum + p.jobs, 0);
  // Lay the groups' slots out one after another.
  let cursor = Date.now() + leadMs(totalJobs);
  const groups = plans.map((plan, g) => {
    const slots: number[] = [];
    for (let i = 0; i < plan.slotCount; i++) {
      cursor = mode === 'second' ? Math.ceil(cursor / 1000) * 1000 : Math.ceil(cursor / 60_000) * 60_000;
      slots.push(cursor);
      cursor += mode === 'second' ? plan.gapS * 1000 : 60_000;
    }
    // Leave the previous group time to finish starting before the next group's first slot.
    cursor += mode === 'second' ? 1000 + plan.jobs * 2 : 0;
    return { key: `g${g}n${plan.jobs}`, plan, slots };
  });
  const jobs: PeerJob[] = groups.flatMap(({ key, plan, slots }) =>
    Array.from({ length: plan.jobs }, (_, i) => ({
      label: `${key}-${i}`,
      schedules: mode === 'second' ? secondSchedules(slots) : minuteSchedules(slots),
      command: recorderCommand(ledger, `${key}-${i}`),
    })),
  );
  const rows = (extra: Partial<LatenessRow>): LatenessRow[] => groups.map(({ plan }) => ({ peer, mode, jobs: plan.jobs, slots: plan.slotCount, ...extra }));
  const firstSlot = groups[0]!.slots[0]!;
  const lastSlot = groups[groups.length - 1]!.slots.at(-1)!;
  const expected = plans.reduce((sum, p) => sum + p.jobs * p.slotCount, 0);
  try {
    const running = await startPeer(peer, jobs, join(dir, 'peer'));
    const readyBeforeSlotMs = firstSlot - Date.now();
    try {
      // Every start recorded, or 15 s after the last slot (cron needs ~4 s for 1000 jobs).
      await sleep(lastSlot - Date.now());
      await waitUntil(() => countLedger(ledger) >= expected, 100, lastSlot + drainMs);
      await sleep(500); // a straggler's duplicate, if any
    } finally {
      await running.stop();
    }
    const starts = readLedger(ledger);
    const stderr = running.stderr?.lines ? { stderrLines: running.stderr.lines, stderrFirst: running.stderr.first } : {};
    return groups.map(({ key, plan, slots }) => ({ peer, mode, jobs: plan.jobs, slots: plan.slotCount, startMs: running.startMs, readyBeforeSlotMs, ...stderr, ...slotFigures(key, plan.jobs, slots, starts) }));
  } catch (error) {
    return rows({ error: errorText(error) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
