import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { errorText, repoRoot } from './common.js';
import { measureIdle, type IdleRow } from './idle.js';
import { measureAlternating, type Condition, type GroupPlan, type LatenessRow } from './lateness.js';
import { startLoad, type LoadSummary } from './load/start.js';
import { peerUnavailable, type PeerName } from './peers/start.js';
import { measureRecorderCost } from './recorder-cost.js';
import { measureCronReload, measureScheddReload, type ReloadRow } from './reload.js';
import { idleTable, latenessTable, markdownSummary, reloadTable, scaleTable, servicesProblems, servicesSummary, servicesTable, sustainedTable } from './report.js';
import { measureScale } from './scale.js';
import { measureServices, type ServicesResult } from './services.js';
import { measureSustained } from './sustained.js';

/**
 * `npm run bench` (`-- --quick` for a run of about five and a half minutes; `-- --only=idle,reload` for
 * some workloads; `-- --busy` for the lateness on a busy machine only): schedd against Debian
 * cron, croner and node-cron on the same machine in the same run, and as a supervisor of
 * services against supervisord and pm2. Each workload prints a table;
 * everything goes to bench/results/<date>.json, and the README's tables to
 * bench/results/latest.md.
 */

const quick = process.argv.includes('--quick');
const busyOnly = process.argv.includes('--busy');
// The busy condition is the lateness workload's: `--busy` alone runs only that.
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? (busyOnly ? ['lateness'] : undefined);
const conditions: Condition[] = busyOnly ? ['busy'] : ['idle', 'busy'];
const wanted = (name: string): boolean => only === undefined || only.includes(name);

const nodePeers: PeerName[] = ['schedd', 'croner', 'node-cron'];
const allPeers: PeerName[] = ['schedd', 'cron', 'croner', 'node-cron'];
// cron first in the minute-boundary runs: it is the one most likely to be missing or to fail.
const minutePeers: PeerName[] = ['cron', 'schedd', 'croner', 'node-cron'];
const cronMissing = peerUnavailable('cron');

const stamp = new Date().toISOString();
const dir = join(repoRoot, 'bench', 'results');
const file = join(dir, `${stamp.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
const results: Record<string, unknown> & { lateness: LatenessRow[]; idle: IdleRow[]; reload: ReloadRow[]; load: LoadSummary[]; services?: ServicesResult; notes: string[] } = {
  date: stamp,
  quick,
  conditions,
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavgAtStart: loadavg(), node: process.version },
  lateness: [],
  idle: [],
  reload: [],
  load: [],
  notes: [],
};

function save(): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

function note(text: string): void {
  results.notes.push(text);
  console.log(`note: ${text}`);
}

async function workload(name: string, body: () => Promise<void>): Promise<void> {
  if (!wanted(name)) return;
  const began = Date.now();
  console.log(`\n== ${name}`);
  try {
    await body();
  } catch (error) {
    results[`${name}Error`] = errorText(error);
    console.log(`error: ${errorText(error)}`);
  }
  console.log(`(${Math.round((Date.now() - began) / 1000)} s)`);
  save();
}

/** A peer's stderr over a lateness run (node-cron: one warning per firing it gave up on). */
function warnings(mode: string): void {
  const seen = new Set<string>();
  for (const row of results.lateness) {
    const key = `${row.peer} ${row.condition}`;
    if (row.mode !== mode || row.stderrLines === undefined || seen.has(key)) continue;
    seen.add(key);
    console.log(`${row.peer} (${row.condition}) wrote ${row.stderrLines} line(s) to stderr, first: ${row.stderrFirst}`);
  }
}

/** The busy condition's load around `body`, stopped (and its processes reaped) however `body` ends. */
async function underCondition<T>(condition: Condition, body: () => Promise<T>): Promise<T> {
  if (condition === 'idle') return body();
  const load = await startLoad({ disk: !quick });
  try {
    return await body();
  } finally {
    const summary = await load.stop();
    results.load.push(summary);
    console.log(`busy load: ${summary.cpuWorkers} CPU-bound processes${summary.diskWriter ? ' and a disk writer (1 MiB writes, each fsynced)' : ''} at nice ${[...new Set(summary.nice)].join(',')}, ${summary.cores.toFixed(2)} cores used over ${Math.round(summary.wallMs / 1000)} s`);
  }
}

if (cronMissing !== null) note(cronMissing);

await workload('recorder', async () => {
  const cost = measureRecorderCost(quick ? 200 : 500);
  results.recorder = cost;
  console.log(`recorder: one fork+exec+record back to back: ${cost.directMs.toFixed(2)} ms direct, ${cost.viaShellMs.toFixed(2)} ms through sh -c 'exec ...' (median of ${cost.runs})`);
});

await workload('lateness', async () => {
  // The same jobs per group as ever, in rounds: quick 2 rounds (4, 2 and 1 slots per peer: the
  // 1000 jobs only in the first, to keep the run short), full 5 (15, 5 and 5).
  const groups: GroupPlan[] = quick
    ? [{ jobs: 1, slotCount: 2, gapS: 1 }, { jobs: 100, slotCount: 1, gapS: 1 }, { jobs: 1000, slotCount: 1, gapS: 1, rounds: 1 }]
    : [{ jobs: 1, slotCount: 3, gapS: 1 }, { jobs: 100, slotCount: 1, gapS: 2 }, { jobs: 1000, slotCount: 1, gapS: 5 }];
  for (const condition of conditions) {
    // How long after a round's last slot a start still counts: on a shared machine croner's 1000
    // starts took 4 s even idle, so the quick run's 4 s of old cut real starts off as drops.
    const drainMs = quick ? 10_000 : 15_000;
    const rows = await underCondition(condition, () => measureAlternating(nodePeers, { mode: 'second', condition, groups, rounds: quick ? 2 : 5, drainMs }, (text) => console.log(text)));
    results.lateness.push(...rows);
  }
  console.log('firing lateness at second slots (the job\'s own clock minus the slot; cron cannot fire at seconds; peers in alternating rounds):');
  console.log(latenessTable(results.lateness, 'second'));
  warnings('second');
});

await workload('lateness-minute', async () => {
  if (quick) {
    note('quick mode: no minute-boundary comparison (it waits for real minute boundaries; cron has minute resolution)');
    return;
  }
  if (!conditions.includes('idle')) return;
  note('minute boundaries are measured on the idle machine only (one round: about three minutes per peer)');
  // One slot per group, in consecutive minutes: about three minutes per peer.
  const groups: GroupPlan[] = [{ jobs: 1, slotCount: 1, gapS: 60 }, { jobs: 100, slotCount: 1, gapS: 60 }, { jobs: 1000, slotCount: 1, gapS: 60 }];
  const peers = minutePeers.filter((peer) => peer !== 'cron' || cronMissing === null);
  results.lateness.push(...(await measureAlternating(peers, { mode: 'minute', condition: 'idle', groups, rounds: 1, drainMs: 15_000 })));
  console.log('firing lateness at minute boundaries (five-field schedules, as cron needs):');
  console.log(latenessTable(results.lateness, 'minute'));
  warnings('minute');
});

await workload('idle', async () => {
  // The full run settles past start-up's garbage: V8's memory reducer collects it in three
  // compacting collections 48-66 s after schedd's start with 10,000 jobs (node --trace-gc),
  // about 200 ms of CPU and 150 wake-ups once, which a 20 s settle put inside the window. The
  // quick run's window (8-18 s) ends before that collection.
  results.idle = await measureIdle(['schedd', 'schedd-detached', 'cron', 'croner', 'node-cron'], 10_000, quick ? 8 : 90, quick ? 10 : 60);
  console.log('idle cost, every peer holding 10,000 jobs due months away, measured over the same window:');
  console.log(idleTable(results.idle));
});

await workload('reload', async () => {
  results.reload.push(await measureScheddReload(quick ? 3 : 20));
  if (quick) note('quick mode: no cron reload figure (each save waits for cron\'s minute tick)');
  else results.reload.push(await measureCronReload(3));
  results.reload.push({ peer: 'croner', saves: 0, how: 'n/a: no file to edit (jobs live in the program)' }, { peer: 'node-cron', saves: 0, how: 'n/a: no file to edit (jobs live in the program)' });
  console.log('reload latency, from saving the file to the added job being live:');
  console.log(reloadTable(results.reload));
});

await workload('scale', async () => {
  const rows = await measureScale(quick ? 1 : 5, [10_000, 100_000]);
  results.scale = rows;
  console.log('scale (whole processes, Node start-up included):');
  console.log(scaleTable(rows));
});

await workload('sustained', async () => {
  const row = await measureSustained('schedd', 200, quick ? 10 : 300, quick ? 5 : 60);
  results.sustained = row;
  console.log('sustained load:');
  console.log(sustainedTable(row));
});

await workload('services', async () => {
  // Quick: fewer crashes and a short window, about a minute in all (supervisord takes a second
  // per restart). Full: the idle run's settle, for the same reason as there.
  const plan = quick ? { services: 100, settleS: 8, windowS: 10, crashes: 20 } : { services: 100, settleS: 90, windowS: 60, crashes: 100 };
  results.services = await measureServices(['schedd', 'supervisord', 'pm2'], plan, (text) => console.log(text));
  console.log(`supervised services, ${plan.services} per supervisor, all running at once: restart after a SIGKILL (peers in turns), and the supervisor's own cost over one idle window of ${plan.windowS} s:`);
  console.log(servicesTable(results.services));
  for (const problem of servicesProblems(results.services)) console.log(problem);
});

const markdown = [markdownSummary(results, allPeers), servicesSummary(results.services)].filter((table) => table !== '').join('\n\n');
results.markdown = markdown;
save();
if (markdown === '') {
  console.log(`\nresults: ${file}`);
} else {
  writeFileSync(join(dir, 'latest.md'), `${markdown}\n`);
  console.log(`\n${markdown}\n\nresults: ${file}\nREADME table: ${join(dir, 'latest.md')}`);
}
