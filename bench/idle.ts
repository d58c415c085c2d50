import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorText, recorderCommand, sleep } from './common.js';
import { peerUnavailable, startPeer, type PeerName, type RunningPeer } from './peers/start.js';
import type { PeerJob } from './peers/types.js';
import { contextSwitches, cpuMs, rssKb, threadCount } from './proc.js';

/**
 * Idle cost: every peer holds the same N distinct jobs, all due months away, and all are measured
 * over the same window (they are idle, so they do not disturb each other): CPU time
 * (utime+stime), RSS at the end, and wake-ups (context switches of all threads per second).
 */

export interface IdleRow {
  peer: PeerName;
  jobs: number;
  seconds?: number;
  startMs?: number;
  cpuMs?: number;
  cpuPercent?: number;
  rssMb?: number;
  wakeupsPerS?: number;
  threads?: number;
  error?: string;
}

export function farJobs(count: number, ledger: string): PeerJob[] {
  const month = ((new Date().getUTCMonth() + 6) % 12) + 1;
  return Array.from({ length: count }, (_, i) => ({
    label: `idle-${i}`,
    schedules: [`${i % 60} ${Math.floor(i / 60) % 24} ${(Math.floor(i / 1440) % 28) + 1} ${month} *`],
    command: recorderCommand(ledger, `idle-${i}`),
  }));
}

export async function measureIdle(peers: readonly PeerName[], jobs: number, settleS: number, seconds: number): Promise<IdleRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  const list = farJobs(jobs, join(dir, 'ledger'));
  const running: RunningPeer[] = [];
  const rows = new Map<PeerName, IdleRow>();
  try {
    for (const peer of peers) {
      const why = peerUnavailable(peer);
      if (why !== null) {
        rows.set(peer, { peer, jobs, error: why });
        continue;
      }
      try {
        running.push(await startPeer(peer, list, join(dir, peer)));
      } catch (error) {
        rows.set(peer, { peer, jobs, error: errorText(error) });
      }
    }
    // Start-up's garbage is not idle cost: settleS must cover its collection (see run.ts).
    await sleep(settleS * 1000);
    const sum = (pids: number[], f: (pid: number) => number): number => pids.reduce((total, pid) => total + f(pid), 0);
    const before = running.map((r) => ({ cpu: sum(r.pids, cpuMs), switches: sum(r.pids, contextSwitches) }));
    const began = Date.now();
    await sleep(seconds * 1000);
    const windowS = (Date.now() - began) / 1000;
    running.forEach((r, i) => {
      try {
        const cpu = sum(r.pids, cpuMs) - before[i]!.cpu;
        rows.set(r.name, {
          peer: r.name,
          jobs,
          seconds: Math.round(windowS),
          startMs: r.startMs,
          cpuMs: cpu,
          cpuPercent: (cpu / (windowS * 1000)) * 100,
          rssMb: sum(r.pids, rssKb) / 1024,
          wakeupsPerS: (sum(r.pids, contextSwitches) - before[i]!.switches) / windowS,
          threads: sum(r.pids, threadCount),
        });
      } catch (error) {
        rows.set(r.name, { peer: r.name, jobs, error: `gone during the window: ${errorText(error)}` });
      }
    });
  } finally {
    for (const r of running) await r.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  return peers.map((peer) => rows.get(peer)!);
}
