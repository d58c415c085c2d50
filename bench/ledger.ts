import { existsSync, readFileSync } from 'node:fs';
import { percentile, spread, type Spread } from './common.js';

/** The recorder's file: "<label> <epoch-ns>" per job start. */
export interface Start {
  label: string;
  atMs: number;
}

export function readLedger(file: string): Start[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [label, ns] = line.split(' ');
      return { label: label!, atMs: Number(BigInt(ns!) / 1000n) / 1000 };
    });
}

export function countLedger(file: string): number {
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  let count = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

/** What became of a group's firings: drops, duplicates, and the starts after their slots. */
export interface SlotFigures {
  expected: number;
  started: number;
  /** Firings with no start in the ledger by the deadline. */
  dropped: number;
  /** A second start of one job for one slot. */
  duplicates: number;
  /** Per slot, the first and the last start after the slot (median over slots, and spread). */
  first: Spread;
  last: Spread;
  p50: number;
  p99: number;
  max: number;
  min: number;
}

/** A start belongs to the latest slot at or before it (300 ms of slack for a scheduler that fires early). */
const EARLY_SLACK_MS = 300;

/** Each slot's starts, as ms after the slot; rounds of one group are merged by concatenating these. */
export interface SlotStarts {
  perSlot: number[][];
  duplicates: number;
}

export function slotStarts(key: string, slots: readonly number[], starts: readonly Start[]): SlotStarts {
  const prefix = `${key}-`;
  const seen = new Set<string>();
  const perSlot: number[][] = slots.map(() => []);
  let duplicates = 0;
  for (const start of starts) {
    if (!start.label.startsWith(prefix)) continue;
    let index = -1;
    for (let i = 0; i < slots.length; i++) if (slots[i]! <= start.atMs + EARLY_SLACK_MS) index = i;
    if (index < 0) continue;
    const id = `${start.label}@${index}`;
    if (seen.has(id)) {
      duplicates++;
      continue;
    }
    seen.add(id);
    perSlot[index]!.push(start.atMs - slots[index]!);
  }
  return { perSlot, duplicates };
}

/** The figures of `jobs` jobs, each due at every slot of `starts` (one round's or several merged). */
export function figures(jobs: number, { perSlot, duplicates }: SlotStarts): SlotFigures {
  const all = perSlot.flat().sort((a, b) => a - b);
  const firsts = perSlot.filter((l) => l.length > 0).map((l) => Math.min(...l));
  const lasts = perSlot.filter((l) => l.length > 0).map((l) => Math.max(...l));
  return {
    expected: jobs * perSlot.length,
    started: all.length,
    dropped: jobs * perSlot.length - all.length,
    duplicates,
    first: spread(firsts),
    last: spread(lasts),
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    max: all.length > 0 ? all[all.length - 1]! : Number.NaN,
    min: all.length > 0 ? all[0]! : Number.NaN,
  };
}

/** How the starts of `jobs` jobs (labels `${key}-${i}`), each due at every one of `slots`, came out. */
export function slotFigures(key: string, jobs: number, slots: readonly number[], starts: readonly Start[]): SlotFigures {
  return figures(jobs, slotStarts(key, slots, starts));
}
