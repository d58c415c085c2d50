import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** From dist/bench/ back to the repository. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The tiny C recorder, compiled once into dist/bench/. */
export function recorderPath(): string {
  const out = join(repoRoot, 'dist', 'bench', 'recorder');
  if (!existsSync(out)) {
    mkdirSync(join(repoRoot, 'dist', 'bench'), { recursive: true });
    execFileSync('cc', ['-O2', '-o', out, join(repoRoot, 'bench', 'recorder.c')]);
  }
  return out;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

export async function waitUntil(condition: () => boolean, pollMs: number): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, pollMs));
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
