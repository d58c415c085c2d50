import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchDaemon } from '../daemon.js';
import { scheddBin, sleep, waitUntil } from '../common.js';
import { alive } from '../proc.js';
import { cronUnavailable, isCron, spawnCron } from './cron.js';
import type { PeerJob } from './types.js';

export type PeerName = 'schedd' | 'schedd-detached' | 'croner' | 'node-cron' | 'cron';

/** A scheduler holding the benchmark's jobs. `pids` are the processes its cost is measured on. */
export interface RunningPeer {
  name: PeerName;
  pids: number[];
  /** Wall time from spawning to ready (schedd: 'schedd started'; Node peers: "ready"; cron: running). */
  startMs: number;
  /** The crontab the peer reads, for reload (schedd and cron). */
  crontab?: string;
  daemon?: BenchDaemon;
  /** Lines the peer wrote to stderr (node-cron's 'missed execution' warnings), and the first. */
  stderr?: { lines: number; first: string };
  stop(): Promise<void>;
}

const peerScripts: Partial<Record<PeerName, string>> = {
  croner: fileURLToPath(new URL('./croner.js', import.meta.url)),
  'node-cron': fileURLToPath(new URL('./node-cron.js', import.meta.url)),
};

export function scheddCrontab(jobs: readonly PeerJob[]): string {
  const lines: string[] = [];
  for (const job of jobs) {
    job.schedules.forEach((schedule, i) => {
      lines.push(`# schedd: name=${job.schedules.length > 1 ? `${job.label}-${i}` : job.label}`, `${schedule} ${job.command}`);
    });
  }
  return `${lines.join('\n')}\n`;
}

/** Ends a child we spawned: SIGTERM to it (and its group when it leads one), SIGKILL after a grace. */
async function end(child: ChildProcess, group: boolean, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const signal = (sig: NodeJS.Signals): void => {
    try {
      if (group) process.kill(-child.pid!, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * `schedd stop` for a detached daemon this bench started; if that fails, SIGTERM then SIGKILL to
 * the pids its state directory names (the watchdog's pidfile and the scheduler it reports),
 * nothing else.
 */
export async function stopDetached(state: string): Promise<void> {
  const pids: number[] = [];
  try {
    pids.push(Number(readFileSync(join(state, 'schedd.pid'), 'utf8').trim()));
    const status = JSON.parse(execFileSync(process.execPath, [scheddBin, 'status', '--json', '--state-dir', state], { encoding: 'utf8', timeout: 30_000 })) as { schedulerPid: number };
    pids.push(status.schedulerPid);
  } catch {
    // not running, or not answering: the pidfile's pid is all we have
  }
  try {
    execFileSync(process.execPath, [scheddBin, 'stop', '--state-dir', state], { encoding: 'utf8', timeout: 60_000, stdio: 'pipe' });
  } catch {
    // fall through to the signals below
  }
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    const left = pids.filter((pid) => Number.isInteger(pid) && pid > 0 && alive(pid));
    if (left.length === 0) return;
    for (const pid of left) process.kill(pid, sig);
    await waitUntil(() => left.every((pid) => !alive(pid)), 50, Date.now() + 5000);
  }
}

export function peerUnavailable(name: PeerName): string | null {
  return name === 'cron' ? cronUnavailable() : null;
}

export async function startPeer(name: PeerName, jobs: readonly PeerJob[], dir: string, readyTimeoutMs = 120_000): Promise<RunningPeer> {
  mkdirSync(dir, { recursive: true });
  const began = Date.now();
  if (name === 'schedd') {
    const crontab = join(dir, 'crontab');
    writeFileSync(crontab, scheddCrontab(jobs));
    const daemon = new BenchDaemon(crontab, join(dir, 'state'));
    try {
      await daemon.waitFor('schedd started', readyTimeoutMs);
    } catch (error) {
      await daemon.stop();
      throw error;
    }
    return { name, pids: [daemon.child.pid!], startMs: Date.now() - began, crontab, daemon, stop: () => daemon.stop() };
  }
  if (name === 'schedd-detached') {
    const crontab = join(dir, 'crontab');
    writeFileSync(crontab, scheddCrontab(jobs));
    const state = join(dir, 'state');
    const cli = (...args: string[]): string => execFileSync(process.execPath, [scheddBin, ...args, '--state-dir', state], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, timeout: readyTimeoutMs });
    cli('start', '-c', crontab);
    const startMs = Date.now() - began;
    const stop = (): Promise<void> => stopDetached(state);
    try {
      const status = JSON.parse(cli('status', '--json')) as { pid: number; schedulerPid: number };
      return { name, pids: [status.pid, status.schedulerPid], startMs, crontab, stop };
    } catch (error) {
      await stop();
      throw error;
    }
  }
  if (name === 'cron') {
    const why = cronUnavailable();
    if (why !== null) throw new Error(why);
    const child = spawnCron(dir, jobs);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // cron reads its crontab as it starts; give it that moment once the wrapper has exec'd it.
    const ok = await waitUntil(() => isCron(child.pid!) || child.exitCode !== null, 20, Date.now() + 10_000);
    await sleep(500);
    if (!ok || child.exitCode !== null || !isCron(child.pid!)) {
      await end(child, true);
      throw new Error(`cron did not start: ${stderr.trim() || `exit ${child.exitCode}`}`);
    }
    return { name, pids: [child.pid!], startMs: Date.now() - began, crontab: join(dir, 'crontab'), stop: () => end(child, true) };
  }
  const file = join(dir, 'jobs.json');
  writeFileSync(file, JSON.stringify(jobs));
  const child = spawn(process.execPath, [peerScripts[name]!, file], { env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  // node-cron warns on stderr for each firing it gives up on; count them instead of printing them.
  const warnings = { lines: 0, first: '' };
  let partial = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    warnings.lines += lines.length;
    if (warnings.first === '' && lines[0] !== undefined) warnings.first = lines[0].replace(/\x1b\[[0-9;]*m/g, '');
  });
  const ready = await waitUntil(() => out.includes('ready\n') || child.exitCode !== null, 10, Date.now() + readyTimeoutMs);
  if (!ready || child.exitCode !== null) {
    await end(child, false);
    throw new Error(`${name} did not get ready (exit ${child.exitCode})`);
  }
  return { name, pids: [child.pid!], startMs: Date.now() - began, stderr: warnings, stop: () => end(child, false) };
}
