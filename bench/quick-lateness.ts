import { measureLateness } from './lateness.js';

for (const jobs of (process.argv[2] ?? '1,100,1000').split(',').map(Number)) {
  for (let repeat = 0; repeat < Number(process.argv[3] ?? 1); repeat++) {
    const r = await measureLateness(jobs, jobs === 1 ? 20 : jobs <= 100 ? 5 : 1);
    console.log(`${jobs} jobs x ${r.slots} slots: started ${r.started}, first ${r.firstMs.toFixed(1)} ms, last ${r.lastMs.toFixed(1)} ms, p50 ${r.p50Ms.toFixed(1)}, p99 ${r.p99Ms.toFixed(1)}, max ${r.maxMs.toFixed(1)}`);
  }
}
