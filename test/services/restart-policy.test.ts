// Services (issue 14) against the real daemon: what follows an exit nobody asked for (restart
// policy, doubling delays, the start limit and `failed`), and the planned restart of timeout=.
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { killAllDaemons } from '../helpers/daemon.js';
import { msBetween, script, service, ServiceCli, svc, workspace } from './helpers.js';

after(killAllDaemons);

describe('services: restart policy', { concurrency: true }, () => {
  it('a crash loop waits 200, 400, 800 ms between starts, is failed at the start limit, and schedd service start brings it back', async (t) => {
    const ws = workspace(t);
    // Crashes while ./broken exists; runs once it is gone.
    const crash = script(ws, 'crash.sh', 'echo "up $$"\nif [ -e broken ]; then exit 3; fi\nexec sleep 1000');
    ws.write('broken', '');
    ws.write('crontab', service('crash', crash, 'restart-delay=200ms start-limit=4/1m stop-timeout=2s'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    const failed = svc(await daemon.waitFor({ msg: 'service failed: start limit reached', job: 'crash' }, 20_000));
    const limitReason = 'crashed (exit 3); start limit reached (more than 4 starts within 1m): failed, tried again in 15m';
    assert.deepEqual([failed.level, failed.exitCode, failed.signal, failed.reason], [50, 3, null, limitReason]);

    const runs = await cli.history('crash');
    assert.deepEqual(
      runs.map((run) => [run.outcome, run.exitCode, run.signal, run.instance, run.reason]),
      [
        ['failed', 3, null, 0, 'crashed (exit 3); restart in 200ms'],
        ['failed', 3, null, 0, 'crashed (exit 3); restart in 400ms'],
        ['failed', 3, null, 0, 'crashed (exit 3); restart in 800ms'],
        ['failed', 3, null, 0, limitReason],
      ],
    );
    const starts = daemon.all({ msg: 'service started', job: 'crash' });
    assert.deepEqual(runs.map((run) => run.pid), starts.map((r) => r.pid), 'one history row per start, with its pid');
    assert.deepEqual(starts.map((r) => r.reason), ['schedd started', 'restart after a crash', 'restart after a crash', 'restart after a crash']);
    // The gap is from one exit to the next start: the delay, never less, plus what a loaded
    // machine adds (bounded generously).
    const gaps = runs.slice(1).map((run, i) => msBetween(runs[i]!.finishedAt!, run.startedAt!));
    t.diagnostic(`gaps between an exit and the next start: ${gaps.join(', ')} ms`);
    for (const [i, delayMs] of [200, 400, 800].entries()) {
      assert.ok(gaps[i]! >= delayMs - 5 && gaps[i]! <= delayMs + 600, `gap ${i + 1} is ${gaps[i]} ms, expected about ${delayMs} (gaps ${gaps.join(', ')})`);
    }
    for (const run of runs) assert.equal(run.durationMs, msBetween(run.startedAt!, run.finishedAt!));

    const [view] = await cli.instances('crash');
    assert.deepEqual(
      { state: view!.state, pid: view!.pid, startedAt: view!.startedAt, uptimeMs: view!.uptimeMs, restarts: view!.restarts, exitCode: view!.lastExit?.exitCode, signal: view!.lastExit?.signal, reason: view!.lastExit?.reason },
      { state: 'failed', pid: null, startedAt: null, uptimeMs: null, restarts: 3, exitCode: 3, signal: null, reason: limitReason },
    );
    const retryInMs = msBetween(view!.lastExit!.at, view!.nextTryAt!);
    assert.ok(Math.abs(retryInMs - 15 * 60_000) < 1000, `the next try is ${retryInMs} ms after the exit, expected 15 min`);
    // Failed is for good until asked: nothing starts meanwhile.
    assert.equal(daemon.all({ msg: 'service started', job: 'crash' }).length, 4);

    rmSync(ws.path('broken'));
    const from = daemon.records.length;
    const started = await cli.run(['service', 'start', 'crash']);
    const record = daemon.all({ msg: 'service started', job: 'crash' }, from);
    assert.equal(record.length, 1);
    assert.deepEqual(started, { code: 0, signal: null, stdout: `crash: running (pid ${record[0]!.pid})\n`, stderr: '' });
    assert.equal(record[0]!.reason, 'schedd service start');
    const [back] = await cli.instances('crash');
    assert.deepEqual([back!.state, back!.pid, back!.nextTryAt], ['running', record[0]!.pid, null]);
    const last = (await cli.history('crash')).at(-1)!;
    assert.deepEqual([last.outcome, last.pid, last.reason, last.finishedAt], ['running', record[0]!.pid, null, null]);
    assert.equal(await daemon.stop(), 0);
  });

  it('a run longer than stable= resets the doubling: 100 ms, 200 ms, then 100 ms again', async (t) => {
    const ws = workspace(t);
    // Start 1 and 2 crash at once, start 3 runs 0.8 s (longer than stable=300ms) then crashes,
    // start 4 stays up.
    const flaky = script(
      ws,
      'flaky.sh',
      ['n=$(cat count 2>/dev/null || echo 0)', 'n=$((n + 1))', 'echo $n > count', '[ $n -ge 4 ] && exec sleep 1000', '[ $n -eq 3 ] && sleep 0.8', 'exit 1'].join('\n'),
    );
    ws.write('crontab', service('flaky', flaky, 'restart-delay=100ms stable=300ms stop-timeout=2s'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    await daemon.waitForCount({ msg: 'service started', job: 'flaky' }, 4, 20_000);
    const runs = await cli.history('flaky');
    assert.deepEqual(
      runs.map((run) => [run.outcome, run.exitCode, run.reason]),
      [
        ['failed', 1, 'crashed (exit 1); restart in 100ms'],
        ['failed', 1, 'crashed (exit 1); restart in 200ms'],
        ['failed', 1, 'crashed (exit 1); restart in 100ms'],
        ['running', null, null],
      ],
    );
    assert.ok(runs[2]!.durationMs! >= 800, `the third run was up ${runs[2]!.durationMs} ms`);
    assert.equal(await daemon.stop(), 0);
  });

  it('restart=on-failure leaves a clean exit stopped, restart=never leaves a crash stopped, and neither counts as failed', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', service('clean', 'echo done', 'restart=on-failure restart-delay=100ms') + service('once', 'echo bye; exit 7', 'restart=never restart-delay=100ms'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    const [clean, once] = await Promise.all([daemon.waitFor({ msg: 'service exited', job: 'clean' }), daemon.waitFor({ msg: 'service exited', job: 'once' })]);
    assert.deepEqual([clean.level, clean.exitCode, clean.reason], [40, 0, 'exited (exit 0); not restarted (restart=on-failure)']);
    assert.deepEqual([once.level, once.exitCode, once.reason], [40, 7, 'crashed (exit 7); not restarted (restart=never)']);
    const views = await Promise.all([cli.waitState('clean', 'stopped'), cli.waitState('once', 'stopped')]);
    assert.deepEqual(
      views.map(([view]) => [view!.state, view!.pid, view!.restarts, view!.nextTryAt, view!.lastExit?.reason]),
      [
        ['stopped', null, 0, null, 'exited (exit 0); not restarted (restart=on-failure)'],
        ['stopped', null, 0, null, 'crashed (exit 7); not restarted (restart=never)'],
      ],
    );
    assert.deepEqual(
      (await cli.history('once')).map((run) => [run.outcome, run.exitCode, run.reason]),
      [['failed', 7, 'crashed (exit 7); not restarted (restart=never)']],
    );
    // A stopped instance's output files are gone with it; the output itself was logged.
    assert.deepEqual(daemon.all({ msg: 'job output', job: 'once' }).map((r) => r.line), ['bye']);
    assert.deepEqual(readdirSync(ws.path('state')).filter((name) => name.startsWith('service.')), []);
    assert.equal(daemon.all({ msg: 'service started' }).length, 2, 'neither was started again');
    assert.equal(await daemon.stop(), 0);
  });

  it('timeout= restarts the service gracefully at its maximum lifetime, and planned restarts do not count towards the start limit', async (t) => {
    const ws = workspace(t);
    const life = script(ws, 'life.sh', 'trap \'echo "term $$" >> ledger; exit 0\' TERM\necho "start $$" >> ledger\nwhile :; do sleep 0.1 & wait $!; done');
    // start-limit=2/1m: a third counted start within the minute would fail the service.
    ws.write('crontab', service('life', life, 'timeout=1s start-limit=2/1m stop-timeout=2s'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    const starts = await daemon.waitForCount({ msg: 'service started', job: 'life' }, 4, 20_000);
    assert.deepEqual(starts.map((r) => r.reason), ['schedd started', 'restarted: reached its maximum lifetime (timeout=1s)', 'restarted: reached its maximum lifetime (timeout=1s)', 'restarted: reached its maximum lifetime (timeout=1s)']);
    const runs = (await cli.history('life')).slice(0, 3);
    assert.deepEqual(
      runs.map((run) => [run.outcome, run.exitCode, run.signal, run.reason]),
      Array(3).fill(['ok', 0, null, 'restarted: reached its maximum lifetime (timeout=1s) (exit 0)']),
    );
    // The lifetime is counted from just before the spawn, the duration from just after it.
    for (const run of runs) assert.ok(run.durationMs! >= 950 && run.durationMs! < 2500, `a run lasted ${run.durationMs} ms, expected about 1 s`);
    // Each process ended through its TERM trap before the next began.
    const ledger = ws.lines('ledger').slice(0, 6);
    assert.deepEqual(ledger, starts.slice(0, 3).flatMap((r) => [`start ${r.pid}`, `term ${r.pid}`]));
    assert.deepEqual(daemon.all({ msg: 'service failed: start limit reached' }), []);
    assert.equal(await daemon.stop(), 0);
  });
});
