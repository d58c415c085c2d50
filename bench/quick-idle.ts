import { median } from './common.js';
import { measureIdle } from './idle.js';
import { measureReload } from './reload.js';

const jobs = Number(process.argv[2] ?? 10_000);
const seconds = Number(process.argv[3] ?? 60);
const idle = await measureIdle(jobs, seconds);
console.log(`idle: ${jobs} jobs, ${seconds} s: cpu ${idle.cpuMs} ms (${idle.cpuPercent.toFixed(3)}%), rss ${idle.rssMb.toFixed(1)} MB, started in ${idle.startMs} ms`);
const reloads = await measureReload(20);
console.log(`reload: median ${median(reloads)} ms, max ${Math.max(...reloads)} ms over ${reloads.length}`);
