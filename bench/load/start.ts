import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, getPriority, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../common.js';
import { alive, cpuMs } from '../proc.js';

/**
 * The busy condition: one CPU-bound process per core at nice 0, and optionally a disk writer
 * (1 MiB writes, each fsynced), started before a workload and stopped, and reaped, at its end.
 *
 * The load must never outlive the bench. The workers stay in the bench's process group (a
 * Ctrl-C in the terminal reaches them too); the bench kills them on exit, on SIGINT, SIGTERM
 * and SIGHUP, and a workload's error reaches `stop()` through its `finally`; and each worker
 * exits on its own within a tenth of a second once its parent is gone (a SIGKILLed bench).
 */

export interface LoadSummary {
  cpuWorkers: number;
  diskWriter: boolean;
  /** The nice value the workers ran at (0 unless the bench itself was started nicer, without root). */
  nice: number[];
  wallMs: number;
  /** CPU the workers used over the condition, in cores (2.0: two cores kept busy). */
  cores: number;
}

export interface Load {
  stop(): Promise<LoadSummary>;
}

const workerScript = fileURLToPath(new URL('./worker.js', import.meta.url));
const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function killLive(): void {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
}

/** Kills the load, then lets the signal do what it would have done without this handler. */
function onSignal(signal: NodeJS.Signals): void {
  killLive();
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  process.on('exit', killLive);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  process.off('exit', killLive);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

function spawnWorker(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [workerScript, ...args], { stdio: 'ignore' });
  live.add(child);
  child.once('exit', () => live.delete(child));
  // Nice 0 whatever the bench runs at; without root a nicer bench cannot raise it, and says so in `nice`.
  try {
    setPriority(child.pid!, 0);
  } catch {
    // not allowed: the worker keeps the bench's own nice value
  }
  return child;
}

export async function startLoad(options: { disk: boolean }): Promise<Load> {
  if (live.size === 0) install();
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-load-'));
  liveDirs.add(dir);
  const children = cpus().map(() => spawnWorker(['cpu']));
  if (options.disk) children.push(spawnWorker(['disk', join(dir, 'written')]));
  const began = Date.now();
  const nice = children.map((c) => {
    try {
      return getPriority(c.pid!);
    } catch {
      return Number.NaN;
    }
  });
  // Let the workers get going before the first measurement.
  await waitUntil(() => children.every((c) => alive(c.pid!)), 20, Date.now() + 5000);
  return {
    async stop(): Promise<LoadSummary> {
      let usedMs = 0;
      for (const child of children) {
        try {
          usedMs += cpuMs(child.pid!);
        } catch {
          // already gone
        }
      }
      const wallMs = Date.now() - began;
      await Promise.all(children.map(end));
      rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
      if (live.size === 0) uninstall();
      return { cpuWorkers: cpus().length, diskWriter: options.disk, nice, wallMs, cores: usedMs / wallMs };
    },
  };
}

/** SIGTERM, SIGKILL after a second; resolves once the child is reaped. */
async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
  await exited;
  clearTimeout(timer);
}
