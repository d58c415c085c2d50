import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** From dist/bench/ back to the repository. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const scheddBin = join(repoRoot, 'bin', 'schedd.js');

/** The tiny C recorder, compiled once into dist/bench/. */
export function recorderPath(): string {
  const out = join(repoRoot, 'dist', 'bench', 'recorder');
  if (!existsSync(out)) {
    mkdirSync(join(repoRoot, 'dist', 'bench'), { recursive: true });
    execFileSync('cc', ['-O2', '-o', out, join(repoRoot, 'bench', 'recorder.c')]);
  }
  return out;
}

/** The command every scheduler runs for a job: the shell execs the recorder, which appends its start time. */
export function recorderCommand(ledger: string, label: string): string {
  return `exec ${recorderPath()} ${ledger} ${label}`;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Polls until `condition` holds or the deadline passes; says which. */
export async function waitUntil(condition: () => boolean, pollMs: number, deadlineMs = Number.POSITIVE_INFINITY): Promise<boolean> {
  while (!condition()) {
    if (Date.now() > deadlineMs) return false;
    await sleep(pollMs);
  }
  return true;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A noisy figure over repeats: the median and the spread. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

/** One line, short enough for a table cell; the JSON gets the same text. */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}
