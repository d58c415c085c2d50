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
  /** In the first this many rounds only (default: every round); quick mode's 1000 jobs take one. */
  rounds?: number;
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

/** A peer that records no start for this long has given up on the rest (it still has `drainMs`, if it was starting). */
const QUIET_MS = 2000;

/**
 * Lead time from starting a peer to its first slot: start-up, plus 10 ms per job. On a server
 * a crontab is loaded long before its jobs are due, and schedd uses the time to start their
 * processes ahead; on a busy machine a process start takes about 10 ms (1 ms per job, as
 * before, left it too little time for 1000 jobs). The other peers do nothing with the time.
 */
function leadMs(totalJobs: number): number {
  return 1500 + 10 * totalJobs;
}

/** One peer's round: each group's starts per slot, or why the round failed. */
interface Round {
  /** Per group of the plan; undefined for a group this round left out. */
  groups?: (SlotStarts | undefined)[];
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
      // Every start recorded; or no new start for QUIET_MS once the last slot is a second past
      // (node-cron's dropped firings never come); or `drainMs` after the last slot.
      await sleep(lastSlot - Date.now());
      let count = 0;
      let grewAt = Date.now();
      await waitUntil(
        () => {
          const now = countLedger(ledger);
          if (now > count) [count, grewAt] = [now, Date.now()];
          return count >= expected || (Date.now() > lastSlot + 1000 && Date.now() - grewAt > QUIET_MS);
        },
        100,
        lastSlot + drainMs,
      );
      await sleep(500); // a straggler's duplicate, if any
    } finally {
      await running.stop();
    }
    // A start after the deadline is a drop for every peer alike, though a peer's stop may have let it through.
    const starts = readLedger(ledger).filter((start) => start.atMs <= lastSlot + drainMs);
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
      const began = Date.now();
      const inRound = plan.groups.map((group) => r < (group.rounds ?? plan.rounds));
      const round = await measureRound(peer, plan.mode, plan.groups.filter((_, g) => inRound[g]), plan.drainMs);
      if (round.groups !== undefined) {
        const measured = round.groups;
        round.groups = inRound.map((included, g) => (included ? measured[inRound.slice(0, g).filter(Boolean).length] : undefined));
      }
      byPeer.get(peer)!.push(round);
      const outcome = round.error === undefined ? `ready ${Math.round(round.readyBeforeSlotMs!)} ms before the first slot` : `error: ${round.error}`;
      progress(`${plan.condition} round ${r + 1}/${plan.rounds} ${peer}: ${outcome} (${((Date.now() - began) / 1000).toFixed(1)} s)`);
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
    const mine = done.map((r) => r.groups![g]).filter((x): x is SlotStarts => x !== undefined);
    const base: LatenessRow = { peer, mode: plan.mode, condition: plan.condition, jobs: group.jobs, slots: 0, rounds: mine.length, ...(failed > 0 ? { failedRounds: failed } : {}) };
    if (mine.length === 0) return { ...base, error: rounds.find((r) => r.error !== undefined)?.error ?? 'no rounds' };
    const merged: SlotStarts = { perSlot: mine.flatMap((x) => x.perSlot), duplicates: mine.reduce((sum, x) => sum + x.duplicates, 0) };
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
