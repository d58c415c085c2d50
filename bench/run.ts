import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { errorText, repoRoot } from './common.js';
import { measureIdle, type IdleRow } from './idle.js';
import { measureLateness, type GroupPlan, type LatenessRow } from './lateness.js';
import { peerUnavailable, type PeerName } from './peers/start.js';
import { measureRecorderCost } from './recorder-cost.js';
import { measureCronReload, measureScheddReload, type ReloadRow } from './reload.js';
import { idleTable, latenessTable, markdownSummary, reloadTable, scaleTable, sustainedTable } from './report.js';
import { measureScale } from './scale.js';
import { measureSustained } from './sustained.js';

/**
 * `npm run bench` (`-- --quick` for a run under two minutes; `-- --only=idle,reload` for some
 * workloads): schedd against Debian cron, croner and node-cron on the same machine in the same
 * run. Each workload prints a table; everything goes to bench/results/<date>.json, and the
 * README's table to bench/results/latest.md.
 */

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const wanted = (name: string): boolean => only === undefined || only.includes(name);

const nodePeers: PeerName[] = ['schedd', 'croner', 'node-cron'];
const allPeers: PeerName[] = ['schedd', 'cron', 'croner', 'node-cron'];
// cron first in the minute-boundary runs: it is the one most likely to be missing or to fail.
const minutePeers: PeerName[] = ['cron', 'schedd', 'croner', 'node-cron'];
const cronMissing = peerUnavailable('cron');

const stamp = new Date().toISOString();
const dir = join(repoRoot, 'bench', 'results');
const file = join(dir, `${stamp.replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
const results: Record<string, unknown> & { lateness: LatenessRow[]; idle: IdleRow[]; reload: ReloadRow[]; notes: string[] } = {
  date: stamp,
  quick,
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavgAtStart: loadavg(), node: process.version },
  lateness: [],
  idle: [],
  reload: [],
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
    if (row.mode !== mode || row.stderrLines === undefined || seen.has(row.peer)) continue;
    seen.add(row.peer);
    console.log(`${row.peer} wrote ${row.stderrLines} line(s) to stderr, first: ${row.stderrFirst}`);
  }
}

if (cronMissing !== null) note(cronMissing);

await workload('recorder', async () => {
  const cost = measureRecorderCost(quick ? 200 : 500);
  results.recorder = cost;
  console.log(`recorder: one fork+exec+record back to back: ${cost.directMs.toFixed(2)} ms direct, ${cost.viaShellMs.toFixed(2)} ms through sh -c 'exec ...' (median of ${cost.runs})`);
});

await workload('lateness', async () => {
  const plans: GroupPlan[] = quick
    ? [{ jobs: 1, slotCount: 3, gapS: 1 }, { jobs: 100, slotCount: 2, gapS: 1 }, { jobs: 1000, slotCount: 1, gapS: 1 }]
    : [{ jobs: 1, slotCount: 15, gapS: 1 }, { jobs: 100, slotCount: 5, gapS: 2 }, { jobs: 1000, slotCount: 3, gapS: 5 }];
  for (const peer of nodePeers) results.lateness.push(...(await measureLateness(peer, 'second', plans, quick ? 4000 : 15_000)));
  console.log('firing lateness at second slots (the job\'s own clock minus the slot; cron cannot fire at seconds):');
  console.log(latenessTable(results.lateness, 'second'));
  warnings('second');
});

await workload('lateness-minute', async () => {
  if (quick) {
    note('quick mode: no minute-boundary comparison (it waits for real minute boundaries; cron has minute resolution)');
    return;
  }
  // One slot per group, in consecutive minutes: about three minutes per peer.
  const plans: GroupPlan[] = [{ jobs: 1, slotCount: 1, gapS: 60 }, { jobs: 100, slotCount: 1, gapS: 60 }, { jobs: 1000, slotCount: 1, gapS: 60 }];
  for (const peer of minutePeers) {
    if (peer === 'cron' && cronMissing !== null) continue;
    results.lateness.push(...(await measureLateness(peer, 'minute', plans)));
  }
  console.log('firing lateness at minute boundaries (five-field schedules, as cron needs):');
  console.log(latenessTable(results.lateness, 'minute'));
  warnings('minute');
});

await workload('idle', async () => {
  results.idle = await measureIdle(['schedd', 'schedd-detached', 'cron', 'croner', 'node-cron'], 10_000, quick ? 8 : 20, quick ? 10 : 60);
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

const markdown = markdownSummary(results, allPeers);
results.markdown = markdown;
save();
if (markdown === '') {
  console.log(`\nresults: ${file}`);
} else {
  writeFileSync(join(dir, 'latest.md'), `${markdown}\n`);
  console.log(`\n${markdown}\n\nresults: ${file}\nREADME table: ${join(dir, 'latest.md')}`);
}
