import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorText, median, recorderCommand, sleep, waitUntil } from './common.js';
import { countLedger, figures, readLedger, slotStarts, type SlotFigures, type SlotStarts } from './ledger.js';
import { startPeer, type PeerName } from './peers/start.js';
import type { PeerJob } from './peers/types.js';

/**
 * Firing lateness: groups of N jobs (1, 100, 1000) due at the same instants, each job recording
 * its own start. In one round, one scheduler process per peer holds every group; the groups'
 * slots follow each other, so a group's jobs fire alone. `second` slots use the seconds field
 * (schedd, croner, node-cron); `minute` slots are minute boundaries, the only instants cron can
 * hit. Peers take turns round by round (A B C A B C), so a change in the machine's load during
 * the run falls on all of them; a peer's figures are over the slots of all its rounds.
 */

export type SlotMode = 'second' | 'minute';

export interface GroupPlan {
  jobs: number;
  slotCount: number;
  /** Seconds between slots (second mode). */
  gapS: number;
}

/** `busy`: with the bench's own load beside the peers (see load/start.ts). */
export type Condition = 'idle' | 'busy';

export interface LatenessRow extends Partial<SlotFigures> {
  peer: PeerName;
  mode: SlotMode;
  condition: Condition;
  jobs: number;
  /** Slots measured, over every round the peer completed. */
  slots: number;
  rounds: number;
  /** Rounds that failed (the peer did not start, or errored); their slots are not counted. */
  failedRounds?: number;
  /** Median over rounds. */
  startMs?: number;
  /** The least time the peer was ready before a round's first slot (negative: after it). */
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

/** One peer's round: each group's starts per slot, or why the round failed. */
interface Round {
  groups?: SlotStarts[];
  startMs?: number;
  readyBeforeSlotMs?: number;
  stderr?: { lines: number; first: string };
  error?: string;
}

/** `drainMs`: how long after the last slot a start still counts (a later one is a drop). */
async function measureRound(peer: PeerName, mode: SlotMode, plans: readonly GroupPlan[], drainMs: number): Promise<Round> {
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
  const firstSlot = groups[0]!.slots[0]!;
  const lastSlot = groups[groups.length - 1]!.slots.at(-1)!;
  const expected = plans.reduce((sum, p) => sum + p.jobs * p.slotCount, 0);
  try {
    const running = await startPeer(peer, jobs, join(dir, 'peer'));
    const readyBeforeSlotMs = firstSlot - Date.now();
    try {
      // Every start recorded, or `drainMs` after the last slot (cron needs ~4 s for 1000 jobs).
      await sleep(lastSlot - Date.now());
      await waitUntil(() => countLedger(ledger) >= expected, 100, lastSlot + drainMs);
      await sleep(500); // a straggler's duplicate, if any
    } finally {
      await running.stop();
    }
    const starts = readLedger(ledger);
    return { groups: groups.map(({ key, slots }) => slotStarts(key, slots, starts)), startMs: running.startMs, readyBeforeSlotMs, ...(running.stderr?.lines ? { stderr: running.stderr } : {}) };
  } catch (error) {
    return { error: errorText(error) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface AlternatingPlan {
  mode: SlotMode;
  condition: Condition;
  /** One round's groups: each peer measures these slots once per round. */
  groups: readonly GroupPlan[];
  rounds: number;
  drainMs: number;
}

/** Rounds of every peer in turn (A B C A B C); one row per peer and group, over all its rounds. */
export async function measureAlternating(peers: readonly PeerName[], plan: AlternatingPlan, progress: (text: string) => void = () => undefined): Promise<LatenessRow[]> {
  const byPeer = new Map<PeerName, Round[]>(peers.map((p) => [p, []]));
  for (let r = 0; r < plan.rounds; r++) {
    for (const peer of peers) {
      const round = await measureRound(peer, plan.mode, plan.groups, plan.drainMs);
      byPeer.get(peer)!.push(round);
      progress(`${plan.condition} round ${r + 1}/${plan.rounds} ${peer}: ${round.error === undefined ? 'ok' : `error: ${round.error}`}`);
    }
  }
  return peers.flatMap((peer) => merge(peer, plan, byPeer.get(peer)!));
}

function merge(peer: PeerName, plan: AlternatingPlan, rounds: readonly Round[]): LatenessRow[] {
  const done = rounds.filter((r) => r.groups !== undefined);
  const failed = rounds.length - done.length;
  const lines = rounds.reduce((sum, r) => sum + (r.stderr?.lines ?? 0), 0);
  const first = rounds.find((r) => r.stderr !== undefined)?.stderr?.first;
  return plan.groups.map((group, g) => {
    const base: LatenessRow = { peer, mode: plan.mode, condition: plan.condition, jobs: group.jobs, slots: 0, rounds: done.length, ...(failed > 0 ? { failedRounds: failed } : {}) };
    if (done.length === 0) return { ...base, error: rounds[0]?.error ?? 'no rounds' };
    const merged: SlotStarts = { perSlot: done.flatMap((r) => r.groups![g]!.perSlot), duplicates: done.reduce((sum, r) => sum + r.groups![g]!.duplicates, 0) };
    return {
      ...base,
      slots: merged.perSlot.length,
      startMs: median(done.map((r) => r.startMs!)),
      readyBeforeSlotMs: Math.min(...done.map((r) => r.readyBeforeSlotMs!)),
      ...(lines > 0 ? { stderrLines: lines, stderrFirst: first } : {}),
      ...figures(group.jobs, merged),
    };
  });
}
