import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median, repoRoot } from './common.js';
import { measureIdle } from './idle.js';
import { measureLateness, type LatenessResult } from './lateness.js';
import { measureReload } from './reload.js';

/**
 * `npm run bench` (`-- --quick` for a short run): schedd's own figures, printed as tables and
 * written as JSON under bench/results/. Comparisons with cron and the Node schedulers come
 * with the benchmark issue.
 */

const quick = process.argv.includes('--quick');
const results: Record<string, unknown> = { date: new Date().toISOString(), quick };

const lateness: LatenessResult[] = [];
for (const [jobs, slots] of [[1, quick ? 10 : 25], [100, quick ? 3 : 5], [1000, 1]] as const) {
  const result = await measureLateness(jobs, slots);
  lateness.push(result);
  console.log(`lateness  ${String(jobs).padStart(4)} jobs x ${slots} slots: first ${result.firstMs.toFixed(1)} ms, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, last ${result.lastMs.toFixed(1)} ms (${result.started} started)`);
}
results.lateness = lateness;

const idle = await measureIdle(10_000, quick ? 15 : 60);
console.log(`idle      10000 jobs over ${idle.seconds} s: ${idle.cpuMs} ms CPU (${idle.cpuPercent.toFixed(3)}%), RSS ${idle.rssMb.toFixed(1)} MB, started in ${idle.startMs} ms`);
results.idle = idle;

const reloads = await measureReload(quick ? 5 : 20);
console.log(`reload    save -> live: median ${median(reloads)} ms, max ${Math.max(...reloads)} ms (${reloads.length} saves)`);
results.reload = { medianMs: median(reloads), maxMs: Math.max(...reloads), samples: reloads };

const dir = join(repoRoot, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`results: ${file}`);
