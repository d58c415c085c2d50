import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile, recorderPath, repoRoot, waitUntil } from './common.js';

/**
 * Firing lateness: N jobs due at the same instant, each recording its own start time. The
 * lateness of a job is its recorded start minus the slot; reported per N as first/last and
 * p50/p99/max.
 */

export interface LatenessResult {
  jobs: number;
  slots: number;
  started: number;
  firstMs: number;
  lastMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** `slots` instants 2 s apart, each with all `jobs` due (keep slots x 2 s under a minute). */
export async function measureLateness(jobs: number, slots = 1, recorder = recorderPath()): Promise<LatenessResult> {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  try {
    const ledger = join(dir, 'ledger');
    // Leave the daemon time to start and to prepare every job (a few ms each) before the slot.
    let firstMs = (Math.floor(Date.now() / 1000) + 3 + Math.ceil((jobs * 8) / 1000)) * 1000;
    // All slots within one minute, so that one seconds list describes them.
    if (Math.floor(firstMs / 60_000) !== Math.floor((firstMs + (slots - 1) * 2000) / 60_000)) firstMs = (Math.floor(firstMs / 60_000) + 1) * 60_000 + 1000;
    const slotTimes = Array.from({ length: slots }, (_, i) => firstMs + i * 2000);
    const slotMs = slotTimes[slotTimes.length - 1]!;
    const minute = new Date(firstMs);
    const seconds = slotTimes.map((ms) => new Date(ms).getUTCSeconds()).join(',');
    const fields = `${seconds} ${minute.getUTCMinutes()} ${minute.getUTCHours()} ${minute.getUTCDate()} ${minute.getUTCMonth() + 1} *`;
    const lines: string[] = [];
    for (let i = 0; i < jobs; i++) lines.push(`# schedd: name=j${i}\n${fields} exec ${recorder} ${ledger} j${i}`);
    writeFileSync(join(dir, 'crontab'), `${lines.join('\n')}\n`);
    const daemon = spawn(process.execPath, [join(repoRoot, 'bin', 'schedd.js'), 'start', '--foreground', '-c', join(dir, 'crontab'), '--state-dir', join(dir, 'state'), '--log-level', 'warn'], {
      env: { ...process.env, TZ: 'UTC' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const count = (): number => (existsSync(ledger) ? readFileSync(ledger, 'utf8').split('\n').length - 1 : 0);
    await waitUntil(() => count() >= jobs * slots || Date.now() > slotMs + 20_000, 50);
    daemon.kill('SIGTERM');
    await new Promise((resolve) => daemon.once('exit', resolve));
    const late = readFileSync(ledger, 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const at = Number(BigInt(line.split(' ')[1]!) / 1000n) / 1000;
        return at - Math.max(...slotTimes.filter((slot) => slot <= at + 1000)); // never negative: jobs start after their slot
      })
      .sort((a, b) => a - b);
    return { jobs, slots, started: late.length, firstMs: late[0]!, lastMs: late[late.length - 1]!, p50Ms: percentile(late, 50), p99Ms: percentile(late, 99), maxMs: late[late.length - 1]! };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
