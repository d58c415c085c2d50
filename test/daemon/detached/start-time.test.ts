// How long `schedd start` takes to return a running daemon. Measured, reported, and guarded only
// against gross regressions: the machine running the tests may be busy.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, it } from 'node:test';
import { cleanupAll, instance, median } from '../../helpers/detached.js';

after(cleanupAll);

const RUNS = 5;

it(`schedd start: median wall time of ${RUNS} starts, against the bare CLI's (node start-up)`, async (t) => {
  const s = instance(t);
  s.write('crontab', '# schedd: name=yearly\n0 0 1 1 * true\n');
  const baseline: number[] = [];
  const starts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let begin = performance.now();
    assert.equal((await s.cli(['--version'])).stdout, '0.1.0\n');
    baseline.push(Math.round(performance.now() - begin));

    begin = performance.now();
    // started() asserts the exact success output; the daemon is up (socket listening) by then.
    const pid = await s.started();
    starts.push(Math.round(performance.now() - begin));
    assert.deepEqual(await s.stop(), { code: 0, signal: null, stdout: `stopping schedd (pid ${pid})...\nstopped\n`, stderr: '' });
  }
  const report = `schedd start: ${starts.join(', ')} ms (median ${median(starts)}); schedd --version: ${baseline.join(', ')} ms (median ${median(baseline)})`;
  t.diagnostic(report);
  // A start is three node start-ups (the CLI, then the watchdog, then the scheduler) in a row.
  assert.ok(median(starts) < 5000, report);
});
