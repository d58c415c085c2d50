import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorText, percentile, sleep, waitUntil } from './common.js';
import type { RunningSupervisor, ServicePeerName, ServiceSpec } from './peers/service-types.js';
import { servicePeerUnavailable, startServicePeer } from './peers/services.js';
import { alive, contextSwitches, cpuMs, rssKb, threadCount } from './proc.js';
import { ServiceLedger, sweep, writeServiceScript } from './service-ledger.js';
import { ownProcesses, pssKb } from './service-procs.js';

/**
 * Supervised services: every supervisor (schedd, supervisord, pm2) holds the same N long-running
 * services at once, each configured to restart a crashed service immediately.
 *
 * 1. Start the supervisors one after another; each is ready when every one of its services has
 *    written its start to the peer's ledger.
 * 2. After a settle, one idle window for all of them together (they are idle, so they do not
 *    disturb each other): CPU (utime+stime), wake-ups (context switches), RSS and PSS of each
 *    supervisor's own processes (the daemon and any helper it keeps beside the services; the
 *    services themselves, the same program for all, are left out).
 * 3. Crash rounds, peers taking turns (A B C A B C, so a change in the machine's load falls on
 *    all of them): SIGKILL one service, wait for its new process's start record; the figure is
 *    that record's time minus the kill's. Crash k kills service k mod N, so no service is killed
 *    twice in a row and every one has been up for a while (no supervisor sees a failed start).
 *
 * restart-trace.ts splits the restart of schedd and pm2 into its phases (exit event, timer,
 * spawn, the new process's own start), which this figure cannot show.
 */

export interface ServicesPlan {
  services: number;
  settleS: number;
  windowS: number;
  /** Per peer. */
  crashes: number;
}

export interface ServiceIdle {
  seconds: number;
  cpuMs: number;
  cpuPercent: number;
  wakeupsPerS: number;
  /** The supervisor's own processes: the daemon and any helper beside the services. */
  rssMb: number;
  /** The same processes' PSS (shared pages split between their users). */
  pssMb: number;
  /** The daemon's process(es) alone, without helpers. */
  daemonRssMb: number;
  processes: number;
  threads: number;
  /** Services whose newest process was alive at the window's end. */
  running: number;
}

export interface ServiceRow {
  peer: ServicePeerName;
  services: number;
  version?: string;
  /** From starting the supervisor to the last service's first start. */
  readyMs?: number;
  idle?: ServiceIdle;
  /** Crashes answered by a restart within the deadline. */
  crashes?: number;
  /** SIGKILL to the new process's own start record, in ms. */
  restart?: { p50: number; p99: number; min: number; max: number };
  restartSamplesMs?: number[];
  rssAfterCrashesMb?: number;
  /** Why the crash rounds stopped for this peer (its idle figures still stand). */
  crashError?: string;
  /** Services still alive after the supervisor's stop returned (the bench killed them). */
  leftAfterStop?: number;
  /** Why the peer has no figures at all. */
  error?: string;
}

export interface ServicesResult extends ServicesPlan {
  rows: ServiceRow[];
}

/** A restart slower than this is a failure, and the peer takes no further part in the rounds. */
const RESTART_DEADLINE_MS = 10_000;
/** After a restart, before the next peer's crash: the supervisor logs and records it meanwhile. */
const GAP_MS = 100;
const READY_DEADLINE_MS = 120_000;

interface Peer {
  row: ServiceRow;
  ledger?: ServiceLedger;
  running?: RunningSupervisor;
}

const sum = (pids: readonly number[], f: (pid: number) => number): number =>
  pids.reduce((total, pid) => {
    try {
      return total + f(pid);
    } catch {
      return total; // ended since we listed it
    }
  }, 0);

function own(peer: Peer): number[] {
  return ownProcesses(peer.running!.roots, new Set(peer.ledger!.running()));
}

/**
 * SIGKILLs `pid` right after Date.now() ticks, so the time returned is the kill's to within a
 * few microseconds (the clock the recorder reads, CLOCK_REALTIME; Date.now() alone would be up
 * to 1 ms early, which is most of a fast restart).
 */
export function killOnTick(pid: number): number {
  const from = Date.now();
  let now = Date.now();
  while (now === from) now = Date.now();
  process.kill(pid, 'SIGKILL');
  return now;
}

/** Never leave a supervisor, a service or the directory behind, even when the bench is interrupted. */
function guard(peers: readonly Peer[], dir: string): () => void {
  const emergency = (): void => {
    for (const peer of peers) {
      try {
        peer.running?.kill();
      } catch {
        // already gone
      }
      if (peer.ledger !== undefined) sweep(peer.ledger);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    emergency();
    uninstall();
    process.kill(process.pid, signal);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const uninstall = (): void => {
    process.off('exit', emergency);
    for (const signal of signals) process.off(signal, onSignal);
  };
  process.on('exit', emergency);
  for (const signal of signals) process.on(signal, onSignal);
  return uninstall;
}

async function start(peer: Peer, dir: string, script: string, count: number): Promise<void> {
  const name = peer.row.peer;
  const why = await servicePeerUnavailable(name);
  if (why !== null) throw new Error(why);
  const peerDir = join(dir, name);
  mkdirSync(peerDir, { recursive: true });
  const ledger = new ServiceLedger(join(peerDir, 'ledger'));
  peer.ledger = ledger;
  const services: ServiceSpec[] = Array.from({ length: count }, (_, i) => ({ label: `svc-${i}`, argv: ['/bin/sh', script, `svc-${i}`, ledger.file] }));
  const began = Date.now();
  peer.running = await startServicePeer(name, services, peerDir);
  peer.row.version = peer.running.version;
  const ready = await waitUntil(() => ledger.allRunning(count), 20, began + READY_DEADLINE_MS);
  if (!ready) throw new Error(`${ledger.latest.size} of ${count} services started within ${READY_DEADLINE_MS / 1000} s, ${ledger.running().length} running`);
  peer.row.readyMs = Math.max(...ledger.starts.slice(0, count).map((s) => s.atMs)) - began;
}

async function measureIdleWindow(peers: readonly Peer[], windowS: number): Promise<void> {
  const before = peers.map((peer) => {
    const pids = own(peer);
    return { pids, cpu: sum(pids, cpuMs), switches: sum(pids, contextSwitches) };
  });
  const began = Date.now();
  await sleep(windowS * 1000);
  const seconds = (Date.now() - began) / 1000;
  peers.forEach((peer, i) => {
    const { pids, cpu, switches } = before[i]!;
    const used = sum(pids, cpuMs) - cpu;
    peer.ledger!.refresh();
    peer.row.idle = {
      seconds: Math.round(seconds),
      cpuMs: used,
      cpuPercent: (used / (seconds * 1000)) * 100,
      wakeupsPerS: (sum(pids, contextSwitches) - switches) / seconds,
      rssMb: sum(pids, rssKb) / 1024,
      pssMb: sum(pids, pssKb) / 1024,
      daemonRssMb: sum(peer.running!.roots, rssKb) / 1024,
      processes: pids.filter(alive).length,
      threads: sum(pids, threadCount),
      running: peer.ledger!.running().length,
    };
  });
}

/** One crash of `label`: the restart time, or throws when there is none within the deadline. */
async function crash(peer: Peer, label: string): Promise<number> {
  const ledger = peer.ledger!;
  ledger.refresh();
  const victim = ledger.latest.get(label)!;
  if (!alive(victim.pid)) throw new Error(`${label} was not running when its crash was due`);
  const killedAt = killOnTick(victim.pid);
  const restarted = await waitUntil(() => (ledger.refresh(), ledger.startAfter(label, victim.pid, killedAt) !== undefined), 5, killedAt + RESTART_DEADLINE_MS);
  if (!restarted) throw new Error(`${label} was not restarted within ${RESTART_DEADLINE_MS / 1000} s of its SIGKILL`);
  return ledger.startAfter(label, victim.pid, killedAt)!.atMs - killedAt;
}

async function crashRounds(peers: readonly Peer[], plan: ServicesPlan, progress: (text: string) => void): Promise<void> {
  const samples = new Map<Peer, number[]>(peers.map((p) => [p, []]));
  for (let k = 0; k < plan.crashes; k++) {
    for (const peer of peers) {
      if (peer.row.crashError !== undefined) continue;
      try {
        samples.get(peer)!.push(await crash(peer, `svc-${k % plan.services}`));
      } catch (error) {
        peer.row.crashError = `crash ${k + 1}: ${errorText(error)}`;
      }
      await sleep(GAP_MS);
    }
    if ((k + 1) % 10 === 0 && k + 1 < plan.crashes) progress(`crash round ${k + 1}/${plan.crashes}`);
  }
  for (const peer of peers) {
    const sorted = [...samples.get(peer)!].sort((a, b) => a - b);
    peer.row.crashes = sorted.length;
    peer.row.restartSamplesMs = samples.get(peer)!.map((v) => Math.round(v * 100) / 100);
    if (sorted.length > 0) peer.row.restart = { p50: percentile(sorted, 50), p99: percentile(sorted, 99), min: sorted[0]!, max: sorted.at(-1)! };
    peer.row.rssAfterCrashesMb = sum(own(peer), rssKb) / 1024;
  }
}

export async function measureServices(names: readonly ServicePeerName[], plan: ServicesPlan, progress: (text: string) => void = () => undefined): Promise<ServicesResult> {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  // Error texts go into the results file: the temporary directory is no one's business there.
  const text = (error: unknown): string => errorText(error).split(dir).join('<tmp>');
  const peers: Peer[] = names.map((peer) => ({ row: { peer, services: plan.services } }));
  const uninstall = guard(peers, dir);
  try {
    const script = writeServiceScript(dir);
    for (const peer of peers) {
      try {
        await start(peer, dir, script, plan.services);
        progress(`${peer.row.peer} (${peer.row.version}): ${plan.services} services running after ${Math.round(peer.row.readyMs!)} ms`);
      } catch (error) {
        peer.row.error = text(error);
        progress(`${peer.row.peer}: error: ${peer.row.error}`);
      }
    }
    const live = peers.filter((p) => p.row.error === undefined);
    if (live.length === 0) return { ...plan, rows: peers.map((p) => p.row) };
    await sleep(plan.settleS * 1000);
    await measureIdleWindow(live, plan.windowS);
    await crashRounds(live, plan, progress);
    for (const peer of live) if (peer.row.crashError !== undefined) peer.row.crashError = text(peer.row.crashError);
  } finally {
    for (const peer of peers) {
      // A peer that failed may be one that never restarts: its services would hold up its stop.
      if (peer.ledger !== undefined && (peer.row.error ?? peer.row.crashError) !== undefined) sweep(peer.ledger);
      await peer.running?.stop().catch(() => undefined);
      const left = peer.ledger === undefined ? 0 : sweep(peer.ledger);
      if (left > 0) peer.row.leftAfterStop = left;
    }
    uninstall();
    rmSync(dir, { recursive: true, force: true });
  }
  return { ...plan, rows: peers.map((p) => p.row) };
}
