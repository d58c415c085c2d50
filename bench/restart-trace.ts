import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile, sleep, waitUntil } from './common.js';
import type { RunningSupervisor } from './peers/service-types.js';
import { startServicePeer } from './peers/services.js';
import type { TraceEvent } from './restart-trace-hook.js';
import { ServiceLedger, sweep, writeServiceScript } from './service-ledger.js';
import { killOnTick } from './services.js';

/**
 * Where a supervisor's restart after a SIGKILL goes, phase by phase, for schedd and pm2 (both
 * Node, so restart-trace-hook.ts can be loaded into either): `node dist/bench/restart-trace.js
 * [--crashes=60] [--services=100] [--peers=schedd,schedd:no-raise,schedd:no-raise+no-timer,pm2]`.
 * A peer `schedd:WHATIF` is schedd with the hook's what-ifs (see there). Crashes go to the peers
 * in turns, as in the services workload; the total is the same figure as there (the new
 * process's own start record minus the kill), and the phases add up to it:
 *
 *   kill -> exit event    the kernel, the supervisor waking, its SIGCHLD handling
 *   exit -> timer set     the supervisor's work on the exit, up to its 0 ms restart timer
 *   timer wait            that timer (a turn of the event loop, at least 1 ms in Node)
 *   timer -> spawn()      the work before the new process is spawned
 *   spawn() call          fork and exec of the first program (spawn returns once exec did)
 *   spawn() -> record     from that program to the service's own start record
 *
 * A supervisor that spawns without a 0 ms timer has no three middle phases but one, exit -> spawn().
 */

interface Kill {
  label: string;
  pid: number;
  killedAt: number;
  newPid: number;
  startedAt: number;
}

interface TracedPeer {
  label: string;
  running: RunningSupervisor;
  nice: number;
  ledger: ServiceLedger;
  kills: Kill[];
}

const RESTART_DEADLINE_MS = 10_000;
const GAP_MS = 100;
const SETTLE_MS = 5_000;
/** What restart-trace-hook.ts knows how to try. */
const WHAT_IFS = ['no-raise', 'no-timer'];

const arg = (name: string, fallback: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const crashes = Number(arg('crashes', '60'));
const count = Number(arg('services', '100'));
const labels = arg('peers', 'schedd,schedd:no-raise,schedd:no-raise+no-timer,pm2').split(',');

async function start(label: string, dir: string, script: string): Promise<TracedPeer> {
  const [name = '', whatIf = ''] = label.split(':');
  if (name !== 'schedd' && name !== 'pm2') throw new Error(`peer '${label}': expected schedd, schedd:WHATIF or pm2`);
  const unknown = whatIf.split('+').filter((w) => w !== '' && !WHAT_IFS.includes(w));
  if (unknown.length > 0 || (name === 'pm2' && whatIf !== '')) throw new Error(`peer '${label}': what-ifs are for schedd, one or more of ${WHAT_IFS.join(', ')} joined by '+'`);
  const peerDir = join(dir, label.replace(/[:+]/g, '-'));
  mkdirSync(peerDir);
  const ledger = new ServiceLedger(join(peerDir, 'ledger'));
  const services = Array.from({ length: count }, (_, i) => ({ label: `svc-${i}`, argv: ['/bin/sh', script, `svc-${i}`, ledger.file] }));
  // The supervisors inherit the environment: set for their start only.
  const saved = { NODE_OPTIONS: process.env.NODE_OPTIONS, SCHEDD_TRACE_DIR: process.env.SCHEDD_TRACE_DIR, SCHEDD_TRACE_WHATIF: process.env.SCHEDD_TRACE_WHATIF };
  Object.assign(process.env, { NODE_OPTIONS: `--import=${new URL('./restart-trace-hook.js', import.meta.url).href}`, SCHEDD_TRACE_DIR: peerDir, SCHEDD_TRACE_WHATIF: whatIf });
  let running: RunningSupervisor;
  try {
    running = await startServicePeer(name, services, peerDir);
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  if (!(await waitUntil(() => ledger.allRunning(count), 20, Date.now() + 120_000))) throw new Error(`${label}: ${ledger.running().length} of ${count} services running after 120 s`);
  return { label, running, nice: niceOf(running.roots[0]!), ledger, kills: [] };
}

async function crash(peer: TracedPeer, label: string): Promise<void> {
  const { ledger } = peer;
  ledger.refresh();
  const victim = ledger.latest.get(label)!;
  const killedAt = killOnTick(victim.pid);
  const found = () => (ledger.refresh(), ledger.startAfter(label, victim.pid, killedAt));
  if (!(await waitUntil(() => found() !== undefined, 5, killedAt + RESTART_DEADLINE_MS))) throw new Error(`${peer.label}: ${label} not restarted within ${RESTART_DEADLINE_MS / 1000} s`);
  const next = found()!;
  peer.kills.push({ label, pid: victim.pid, killedAt, newPid: next.pid, startedAt: next.atMs });
}

/** The daemon's nice value (field 19 of /proc/PID/stat): schedd raises its own when it may. */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

function traceOf(peer: TracedPeer, dir: string): TraceEvent[] {
  const daemonPid = peer.running.roots[0];
  const file = join(dir, peer.label.replace(/[:+]/g, '-'), `trace.${daemonPid}.json`);
  if (!existsSync(file)) throw new Error(`${peer.label}: no trace from its daemon (pid ${daemonPid})`);
  return JSON.parse(readFileSync(file, 'utf8')) as TraceEvent[];
}

function phases(peer: TracedPeer, events: readonly TraceEvent[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const add = (name: string, ms: number): void => void out.set(name, [...(out.get(name) ?? []), ms]);
  for (const k of peer.kills) {
    const exit = events.find((e) => e.kind === 'exit' && e.pid === k.pid);
    const spawn = events.find((e): e is Extract<TraceEvent, { kind: 'spawn' }> => e.kind === 'spawn' && e.pid === k.newPid);
    add('total', k.startedAt - k.killedAt);
    if (exit === undefined || spawn === undefined) continue;
    add('kill -> exit event', exit.at - k.killedAt);
    const timer = events.find((e): e is Extract<TraceEvent, { kind: 'timer0' }> => e.kind === 'timer0' && e.at >= exit.at && e.end <= spawn.at);
    if (timer === undefined) add('exit -> spawn()', spawn.at - exit.at);
    else {
      add('exit -> timer set', timer.at - exit.at);
      add('timer wait', timer.end - timer.at);
      add('timer -> spawn()', spawn.at - timer.end);
    }
    add('spawn() call', spawn.end - spawn.at);
    add('spawn() -> record', k.startedAt - spawn.end);
  }
  return out;
}

const fmt = (values: readonly number[]): string => {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return [percentile(sorted, 50), percentile(sorted, 90), mean].map((v) => v.toFixed(2).padStart(7)).join('  ');
};

const dir = mkdtempSync(join(tmpdir(), 'schedd-trace-'));
try {
  const peers: TracedPeer[] = [];
  try {
    const script = writeServiceScript(dir);
    for (const label of labels) peers.push(await start(label, dir, script));
    console.log(`${peers.length} supervisors with ${count} services each; ${crashes} crashes each, in turns`);
    await sleep(SETTLE_MS);
    for (let k = 0; k < crashes; k++) {
      for (const peer of peers) {
        await crash(peer, `svc-${k % count}`);
        await sleep(GAP_MS);
      }
    }
  } finally {
    // The traces are written as each daemon exits.
    for (const peer of peers) {
      await peer.running.stop().catch(() => undefined);
      sweep(peer.ledger);
    }
  }
  for (const peer of peers) {
    const events = traceOf(peer, dir);
    const restart = events.find((e): e is Extract<TraceEvent, { kind: 'spawn' }> => e.kind === 'spawn' && e.pid === peer.kills[0]?.newPid);
    console.log(`\n${peer.label} (${peer.running.version}), nice ${peer.nice}; a restart spawns: ${JSON.stringify(restart?.argv ?? []).split(dir).join('<tmp>')}`);
    console.log(`  ${''.padEnd(20)} ${['p50', 'p90', 'mean'].map((h) => h.padStart(7)).join('  ')} (ms)`);
    for (const [name, values] of phases(peer, events)) console.log(`  ${name.padEnd(20)} ${fmt(values)}${values.length < peer.kills.length ? ` (${values.length} of ${peer.kills.length})` : ''}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
