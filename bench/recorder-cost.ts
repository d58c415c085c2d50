import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recorderPath } from './common.js';
import { readLedger } from './ledger.js';

/**
 * What the recorder itself costs: a shell loop runs it back to back, directly and through
 * `sh -c 'exec ...'` as the schedulers do; the gap between consecutive records is the cost of
 * one fork+exec+record (an upper bound on what the recorder adds to a figure).
 */
export interface RecorderCost {
  runs: number;
  directMs: number;
  viaShellMs: number;
}

export function measureRecorderCost(runs: number): RecorderCost {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  try {
    const gap = (label: string, body: string): number => {
      execFileSync('/bin/sh', ['-c', `i=0; while [ $i -lt ${runs} ]; do ${body}; i=$((i+1)); done`]);
      const at = readLedger(join(dir, 'ledger')).filter((s) => s.label === label).map((s) => s.atMs);
      const gaps = at.slice(1).map((t, i) => t - at[i]!).sort((a, b) => a - b);
      return gaps[Math.floor(gaps.length / 2)]!;
    };
    const rec = recorderPath();
    const ledger = join(dir, 'ledger');
    return { runs, directMs: gap('direct', `${rec} ${ledger} direct`), viaShellMs: gap('shell', `/bin/sh -c 'exec ${rec} ${ledger} shell'`) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
