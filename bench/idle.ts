import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchDaemon } from './daemon.js';

/** CPU time and RSS of a daemon holding N distinct jobs that are all due months away. */
export interface IdleResult {
  jobs: number;
  seconds: number;
  cpuMs: number;
  cpuPercent: number;
  rssMb: number;
  startMs: number;
}

const TICKS_PER_SECOND = 100;

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssKb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, ''));
}

export function distinctCrontab(jobs: number): string {
  const month = ((new Date().getUTCMonth() + 6) % 12) + 1;
  const lines: string[] = [];
  for (let i = 0; i < jobs; i++) lines.push(`${i % 60} ${Math.floor(i / 60) % 24} ${(Math.floor(i / 1440) % 28) + 1} ${month} * /usr/bin/true job-${i}`);
  return `${lines.join('\n')}\n`;
}

export async function measureIdle(jobs: number, seconds: number): Promise<IdleResult> {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  const crontab = join(dir, 'crontab');
  writeFileSync(crontab, distinctCrontab(jobs));
  const began = Date.now();
  const daemon = new BenchDaemon(crontab, join(dir, 'state'));
  try {
    await daemon.waitFor('schedd started');
    const startMs = Date.now() - began;
    const pid = daemon.child.pid!;
    // Let start-up work settle before measuring: V8 collects the start-up garbage a few
    // seconds later (its memory reducer), which is not idle cost.
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const before = cpuTicks(pid);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const cpuMs = ((cpuTicks(pid) - before) * 1000) / TICKS_PER_SECOND;
    return { jobs, seconds, cpuMs, cpuPercent: (cpuMs / (seconds * 1000)) * 100, rssMb: rssKb(pid) / 1024, startMs };
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
