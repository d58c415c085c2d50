import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { errorText, percentile, recorderCommand, sleep } from './common.js';
import { readLedger } from './ledger.js';
import { startPeer, type PeerName } from './peers/start.js';
import type { PeerJob } from './peers/types.js';
import { cpuMs, fdCount, rssKb } from './proc.js';

/**
 * Sustained load: N every-second jobs for a while. Per window: lateness of the starts (drift),
 * starts per second, and for schedd the runs its history recorded per second (rows whose slot
 * falls in the window, 1 s behind, counted before the history prunes them);
 * RSS, open fds and CPU sampled at each window's end.
 */

export interface SustainedWindow {
  fromS: number;
  startsPerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  recordedPerS?: number;
  rssMb: number;
  fds: number;
  cpuPercent: number;
}

export interface SustainedRow {
  peer: PeerName;
  jobs: number;
  seconds: number;
  windowS: number;
  expected?: number;
  started?: number;
  dropped?: number;
  startRssMb?: number;
  startFds?: number;
  windows?: SustainedWindow[];
  error?: string;
}

export async function measureSustained(peer: PeerName, jobs: number, seconds: number, windowS: number): Promise<SustainedRow> {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  const ledger = join(dir, 'ledger');
  const list: PeerJob[] = Array.from({ length: jobs }, (_, i) => ({ label: `s-${i}`, schedules: ['* * * * * *'], command: recorderCommand(ledger, `s-${i}`) }));
  try {
    const running = await startPeer(peer, list, join(dir, 'peer'));
    const pid = running.pids[0]!;
    const windows: Omit<SustainedWindow, 'startsPerS' | 'p50Ms' | 'p99Ms' | 'maxMs'>[] = [];
    let t0 = 0;
    let startRssMb = 0;
    let startFds = 0;
    let db: Database.Database | undefined;
    try {
      // Measure from a whole second, once the first slot has fired.
      t0 = (Math.floor(Date.now() / 1000) + 2) * 1000;
      await sleep(t0 - Date.now());
      startRssMb = rssKb(pid) / 1024;
      startFds = fdCount(pid);
      let cpuBefore = cpuMs(pid);
      for (let k = 0; k < seconds / windowS; k++) {
        const end = t0 + (k + 1) * windowS * 1000;
        await sleep(end - Date.now());
        const cpu = cpuMs(pid);
        const window: (typeof windows)[number] = { fromS: k * windowS, rssMb: rssKb(pid) / 1024, fds: fdCount(pid), cpuPercent: ((cpu - cpuBefore) / (windowS * 1000)) * 100 };
        cpuBefore = cpu;
        if (peer === 'schedd') {
          // Count the window's slots now, before the history prunes them (100 records per job):
          // shifted back 1 s so that the last slot's claim is surely committed.
          db ??= new Database(join(dir, 'peer', 'state', 'history.db'), { readonly: true, fileMustExist: true });
          const to = end - 1000;
          const row = db.prepare('SELECT count(*) AS n FROM runs WHERE scheduled_at >= ? AND scheduled_at < ?').get(to - windowS * 1000, to) as { n: number };
          window.recordedPerS = row.n / windowS;
        }
        windows.push(window);
      }
      await sleep(2000);
    } finally {
      db?.close();
      await running.stop();
    }
    const tEnd = t0 + seconds * 1000;
    const starts = readLedger(ledger).filter((s) => s.atMs >= t0 && Math.floor(s.atMs / 1000) * 1000 < tEnd);
    const result = windows.map((w, k) => {
      const from = t0 + k * windowS * 1000;
      // Each start belongs to the whole second before it: right while lateness stays under 1 s.
      const late = starts
        .filter((s) => Math.floor(s.atMs / 1000) * 1000 >= from && Math.floor(s.atMs / 1000) * 1000 < from + windowS * 1000)
        .map((s) => s.atMs - Math.floor(s.atMs / 1000) * 1000)
        .sort((a, b) => a - b);
      return { ...w, startsPerS: late.length / windowS, p50Ms: percentile(late, 50), p99Ms: percentile(late, 99), maxMs: late.at(-1) ?? Number.NaN };
    });
    return { peer, jobs, seconds, windowS, expected: jobs * seconds, started: starts.length, dropped: jobs * seconds - starts.length, startRssMb, startFds, windows: result };
  } catch (error) {
    return { peer, jobs, seconds, windowS, error: errorText(error) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
