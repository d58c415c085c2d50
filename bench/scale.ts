import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { errorText, scheddBin, spread, type Spread } from './common.js';
import { BenchDaemon } from './daemon.js';
import { farJobs } from './idle.js';
import { scheddCrontab, startPeer, stopDetached } from './peers/start.js';
import { peakRssKb } from './proc.js';

/**
 * Scale: `schedd check` and daemon start-up on 10,000 and 100,000 entries, and the `list --json`
 * and `status` commands against a daemon holding 10,000 jobs. Whole-process wall time (Node's
 * start included, as a user sees it) and peak RSS, median over repeats with the spread.
 */

const run = promisify(execFile);
const TIME = '/usr/bin/time';

export interface ScaleRow {
  what: string;
  entries: number;
  wallMs?: Spread;
  peakRssMb?: Spread;
  error?: string;
}

/** One CLI run: wall time measured here, peak RSS by /usr/bin/time when present. */
async function timedCli(args: string[], dir: string): Promise<{ wallMs: number; peakRssMb: number }> {
  const out = join(dir, 'time.out');
  const useTime = existsSync(TIME);
  const argv = useTime ? ['-f', '%M', '-o', out, process.execPath, scheddBin, ...args] : [scheddBin, ...args];
  const began = performance.now();
  await run(useTime ? TIME : process.execPath, argv, { env: { ...process.env, TZ: 'UTC' }, maxBuffer: 256 * 1024 * 1024 }).catch((error: { code?: number; stderr?: string }) => {
    // check exits 1 on an invalid file; anything else is a failure of the benchmark.
    throw new Error(`schedd ${args[0]} failed (exit ${error.code}): ${String(error.stderr ?? '').trim().slice(0, 300)}`);
  });
  const wallMs = performance.now() - began;
  const peakRssMb = useTime ? Number(readFileSync(out, 'utf8').trim().split('\n').at(-1)) / 1024 : Number.NaN;
  return { wallMs, peakRssMb };
}

async function repeat(what: string, entries: number, repeats: number, once: () => Promise<{ wallMs: number; peakRssMb: number }>): Promise<ScaleRow> {
  try {
    const samples: { wallMs: number; peakRssMb: number }[] = [];
    for (let i = 0; i < repeats; i++) samples.push(await once());
    return { what, entries, wallMs: spread(samples.map((s) => s.wallMs)), peakRssMb: spread(samples.map((s) => s.peakRssMb)) };
  } catch (error) {
    return { what, entries, error: errorText(error) };
  }
}

export async function measureScale(repeats: number, sizes: readonly number[]): Promise<ScaleRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  const rows: ScaleRow[] = [];
  try {
    for (const size of sizes) {
      const crontab = join(dir, `crontab-${size}`);
      writeFileSync(crontab, scheddCrontab(farJobs(size, join(dir, 'ledger'))));
      rows.push(await repeat('schedd check', size, repeats, () => timedCli(['check', crontab], dir)));
      rows.push(await repeat('start --foreground to "schedd started"', size, repeats, () => foregroundStart(crontab, dir)));
      rows.push(await repeat('start (detached) until it returns', size, repeats, () => detachedStart(crontab, dir)));
    }
    const size = Math.min(...sizes);
    const peer = await startPeer('schedd', farJobs(size, join(dir, 'ledger')), join(dir, 'live'), 300_000);
    try {
      const state = join(dir, 'live', 'state');
      rows.push(await repeat('list --json (daemon running)', size, repeats, () => timedCli(['list', '--json', '-c', peer.crontab!, '--state-dir', state], dir)));
      rows.push(await repeat('status (daemon running)', size, repeats, () => timedCli(['status', '--state-dir', state], dir)));
    } finally {
      await peer.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

async function foregroundStart(crontab: string, dir: string): Promise<{ wallMs: number; peakRssMb: number }> {
  const state = join(dir, 'fg-state');
  rmSync(state, { recursive: true, force: true });
  const began = performance.now();
  const daemon = new BenchDaemon(crontab, state);
  try {
    await daemon.waitFor('schedd started', 300_000);
    const wallMs = performance.now() - began;
    return { wallMs, peakRssMb: peakRssKb(daemon.child.pid!) / 1024 };
  } finally {
    await daemon.stop();
  }
}

async function detachedStart(crontab: string, dir: string): Promise<{ wallMs: number; peakRssMb: number }> {
  const state = join(dir, 'detached-state');
  rmSync(state, { recursive: true, force: true });
  const began = performance.now();
  await run(process.execPath, [scheddBin, 'start', '-c', crontab, '--state-dir', state], { env: { ...process.env, TZ: 'UTC' }, timeout: 300_000 });
  const wallMs = performance.now() - began;
  let peakRssMb = Number.NaN;
  try {
    const status = JSON.parse((await run(process.execPath, [scheddBin, 'status', '--json', '--state-dir', state])).stdout) as { schedulerPid: number };
    peakRssMb = peakRssKb(status.schedulerPid) / 1024;
  } finally {
    await stopDetached(state);
  }
  return { wallMs, peakRssMb };
}
