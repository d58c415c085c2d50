// Shared by the runner tests: fixture paths, a base spec, and polling with a deadline.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OutputStream, RunSpec } from '../../src/runner/types.js';
import { hasExited } from '../helpers/daemon.js';

// Tests run from dist/test/runner/, fixtures stay in the source tree.
const fixturesDir = fileURLToPath(new URL('../../../test/fixtures/runner/', import.meta.url));

export function fixture(name: string): string {
  return join(fixturesDir, name);
}

const tempDirs: string[] = [];

/** A fresh directory (realpath, so it compares equal to what `pwd` prints). */
export function tempDir(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'schedd-runner-')));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function spec(overrides: Partial<RunSpec> = {}): RunSpec {
  return {
    command: 'true',
    shell: '/bin/sh',
    stdin: null,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    cwd: '/',
    killGraceMs: 1000,
    ...overrides,
  };
}

/** Lines per stream, in arrival order. */
export function lineCollector(): {
  lines: Record<OutputStream, string[]>;
  onLine(stream: OutputStream, line: string): void;
} {
  const lines: Record<OutputStream, string[]> = { stdout: [], stderr: [] };
  return { lines, onLine: (stream, line) => lines[stream].push(line) };
}

/** Alive and not a zombie: a killed orphan may linger as a zombie until init reaps it. */
export function isAlive(pid: number): boolean {
  return !hasExited(pid);
}

export { readPid } from '../helpers/daemon.js';
