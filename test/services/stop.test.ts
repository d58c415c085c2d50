// Services (issue 14) against the real daemon: stopping them. `schedd service stop` ends the
// whole process group (a background grandchild too), SIGKILL only after stop-timeout, and
// `schedd stop` stops every service at once, each within its own stop timeout.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { hasExited, killAllDaemons, readPid } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/wait.js';
import { msBetween, script, service, ServiceCli, svc, workspace } from './helpers.js';

after(killAllDaemons);

/** A service that starts `sleep 1000` in the background (pid to ./NAME.pid), says ready, and waits. */
function withGrandchild(name: string, grandchild: string): string {
  return [`${grandchild} &`, `echo $! > ${name}.pid.tmp && mv ${name}.pid.tmp ${name}.pid`, 'echo ready', 'wait'].join('\n');
}

describe('services: stopping', { concurrency: true }, () => {
  it('schedd service stop ends a grandchild the service started in the background, and the service stays stopped', async (t) => {
    const ws = workspace(t);
    const parent = script(ws, 'parent.sh', withGrandchild('grandchild', 'sleep 1000'));
    ws.write('crontab', service('parent', parent, 'stop-timeout=5s'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    const started = await daemon.waitFor({ msg: 'service started', job: 'parent' });
    await daemon.waitFor({ msg: 'job output', job: 'parent', line: 'ready' });
    const grandchild = readPid(ws.path('grandchild.pid'));
    assert.equal(hasExited(grandchild), false);

    const stopped = await cli.run(['service', 'stop', 'parent']);
    const reason = 'stopped by schedd service stop (killed by SIGTERM)';
    assert.deepEqual(stopped, { code: 0, signal: null, stdout: `parent: stopped (${reason})\n`, stderr: '' });
    // Done means done: the group is gone when the command returns.
    assert.equal(hasExited(started.pid!), true, 'the service outlived its stop');
    assert.equal(hasExited(grandchild), true, 'the grandchild outlived the stop');
    const exited = svc(daemon.all({ msg: 'service exited', job: 'parent' })[0]!);
    assert.deepEqual([exited.level, exited.pid, exited.exitCode, exited.signal, exited.reason], [30, started.pid, null, 'SIGTERM', reason]);
    const [view] = await cli.instances('parent');
    assert.deepEqual([view!.state, view!.pid, view!.lastExit?.reason], ['stopped', null, reason]);
    const [run] = await cli.history('parent');
    assert.deepEqual([run!.outcome, run!.signal, run!.reason], ['ok', 'SIGTERM', reason]);
    // Asked for, so not a crash: nothing starts again; a start does.
    const restarted = await cli.run(['service', 'start', 'parent']);
    const again = daemon.all({ msg: 'service started', job: 'parent' });
    assert.equal(again.length, 2);
    assert.deepEqual(restarted, { code: 0, signal: null, stdout: `parent: running (pid ${again[1]!.pid})\n`, stderr: '' });
    assert.equal(await daemon.stop(), 0);
  });

  it('a grandchild that ignores SIGTERM is killed at stop-timeout, and the stop waits for it', async (t) => {
    const ws = workspace(t);
    const parent = script(ws, 'stubborn.sh', withGrandchild('stubborn', "sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'"));
    ws.write('crontab', service('stubborn', parent, 'stop-timeout=1s'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    await daemon.waitFor({ msg: 'job output', job: 'stubborn', line: 'ready' });
    const grandchild = readPid(ws.path('stubborn.pid'));
    const t0 = Date.now();
    const stopped = await cli.run(['service', 'stop', 'stubborn']);
    const elapsedMs = Date.now() - t0;
    const reason = 'stopped by schedd service stop (killed by SIGTERM; SIGKILL after 1s grace)';
    assert.deepEqual(stopped, { code: 0, signal: null, stdout: `stubborn: stopped (${reason})\n`, stderr: '' });
    assert.ok(elapsedMs >= 1000, `the stop returned after ${elapsedMs} ms, before the 1 s stop timeout`);
    assert.equal(hasExited(grandchild), true, 'the grandchild survived SIGKILL');
    const [run] = await cli.history('stubborn');
    assert.deepEqual([run!.outcome, run!.signal, run!.reason], ['killed', 'SIGTERM', reason]);
    assert.equal(await daemon.stop(), 0);
  });

  it('a crashed service\'s background leftovers are ended before it starts again', async (t) => {
    const ws = workspace(t);
    // Each start leaves a sleep behind and exits 1 at once; the third stays up.
    const leaky = script(ws, 'leaky.sh', ['n=$(cat count 2>/dev/null || echo 0)', 'n=$((n + 1))', 'echo $n > count', 'sleep 1000 &', 'echo $! > left.$n', '[ $n -ge 3 ] && wait', 'exit 1'].join('\n'));
    ws.write('crontab', service('leaky', leaky, 'restart-delay=100ms stop-timeout=2s'));
    const daemon = ws.start();
    const starts = await daemon.waitForCount({ msg: 'service started', job: 'leaky' }, 3, 15_000);
    await waitUntil('the third start to write its leftover pid', () => ws.lines('left.3').length === 1, 5000);
    assert.equal(hasExited(readPid(ws.path('left.1'))), true, 'the first start left a process running');
    assert.equal(hasExited(readPid(ws.path('left.2'))), true, 'the second start left a process running');
    assert.equal(hasExited(readPid(ws.path('left.3'))), false);
    assert.equal(starts.length, 3);
    assert.equal(await daemon.stop(), 0);
    assert.equal(hasExited(readPid(ws.path('left.3'))), true);
  });

  it('schedd stop stops the services in parallel, each gracefully within its stop timeout', async (t) => {
    const ws = workspace(t);
    // 1.5 s from TERM to exit 0; stopped one after the other that would be 3 s or more.
    const slow = script(ws, 'slow.sh', ['trap \'echo "$1 got TERM"; sleep 1.5; echo "$1 done"; exit 0\' TERM', 'echo "$1 ready"', 'while :; do sleep 0.1 & wait $!; done'].join('\n'));
    ws.write('crontab', service('slow1', `${slow} slow1`, 'stop-timeout=5s') + service('slow2', `${slow} slow2`, 'stop-timeout=5s'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    await Promise.all([daemon.waitFor({ msg: 'job output', line: 'slow1 ready' }), daemon.waitFor({ msg: 'job output', line: 'slow2 ready' })]);
    const pids = await Promise.all(['slow1', 'slow2'].map(async (name) => (await cli.instances(name))[0]!.pid!));

    const result = await cli.run(['stop']);
    assert.deepEqual(result, { code: 0, signal: null, stdout: `stopping schedd (pid ${daemon.pid})...\nstopped\n`, stderr: '' });
    assert.deepEqual(await daemon.waitExit(), { code: 0, signal: null });
    const stopping = daemon.all({ msg: 'stopping' })[0]!;
    const stoppedAt = daemon.all({ msg: 'schedd stopped' })[0]!;
    const totalMs = msBetween(stopping.time, stoppedAt.time);
    t.diagnostic(`schedd stop took ${totalMs} ms`);
    assert.ok(totalMs >= 1450 && totalMs < 2700, `schedd stop took ${totalMs} ms; two 1.5 s stops in parallel take about 1.5 s`);
    for (const [i, name] of ['slow1', 'slow2'].entries()) {
      const asked = svc(daemon.all({ msg: 'service stopping', job: name })[0]!);
      assert.deepEqual([asked.pid, asked.reason, asked.signal, asked.timeoutMs], [pids[i], 'stopped: schedd is stopping', 'SIGTERM', 5000]);
      assert.ok(msBetween(stopping.time, asked.time) < 200, `${name} was asked to stop ${msBetween(stopping.time, asked.time)} ms after the daemon began stopping`);
      const exited = svc(daemon.all({ msg: 'service exited', job: name })[0]!);
      assert.deepEqual([exited.pid, exited.exitCode, exited.signal, exited.reason], [pids[i], 0, null, 'stopped: schedd is stopping (exit 0)']);
      assert.deepEqual(daemon.all({ msg: 'job output', job: name, stream: 'stdout' }).map((r) => r.line), [`${name} ready`, `${name} got TERM`, `${name} done`]);
      assert.equal(hasExited(pids[i]!), true);
    }
  });

  it('a second SIGTERM skips the stop timeout: SIGKILL to the services still stopping', async (t) => {
    const ws = workspace(t);
    const deaf = script(ws, 'deaf.sh', "trap '' TERM\necho ready\nwhile :; do sleep 0.1; done");
    ws.write('crontab', service('deaf', deaf, 'stop-timeout=30s'));
    const daemon = ws.start();
    const started = await daemon.waitFor({ msg: 'service started', job: 'deaf' });
    await daemon.waitFor({ msg: 'job output', job: 'deaf', line: 'ready' });
    daemon.signal('SIGTERM');
    await daemon.waitFor({ msg: 'service stopping', job: 'deaf' });
    daemon.signal('SIGTERM');
    assert.deepEqual(await daemon.waitExit(10_000), { code: 0, signal: null });
    const exited = svc(daemon.all({ msg: 'service exited', job: 'deaf' })[0]!);
    assert.deepEqual([exited.exitCode, exited.signal], [null, 'SIGKILL']);
    assert.ok(exited.uptimeMs! < 10_000, `the second SIGTERM did not hurry the stop (uptime ${exited.uptimeMs} ms)`);
    assert.equal(hasExited(started.pid!), true);
  });

  it(
    'regression: schedd stop waits for a service removed from the crontab that is still stopping',
    async (t) => {
      const ws = workspace(t);
      // 4 s from TERM to exit 0, well within its stop timeout.
      const leaving = script(ws, 'leaving.sh', ['trap \'echo "term $$" >> ledger; sleep 4; echo "done $$" >> ledger; exit 0\' TERM', 'echo "start $$" >> ledger', 'while :; do sleep 0.1 & wait $!; done'].join('\n'));
      ws.write('crontab', service('leaving', leaving, 'stop-timeout=10s') + service('staying', 'sleep 1000', 'stop-timeout=2s'));
      const daemon = ws.start();
      const cli = new ServiceCli(ws);
      const started = await daemon.waitFor({ msg: 'service started', job: 'leaving' });
      ws.replace('crontab', service('staying', 'sleep 1000', 'stop-timeout=2s'));
      await daemon.waitFor({ msg: 'service stopping', job: 'leaving' });
      await waitUntil('the removed service to get its TERM', () => ws.lines('ledger').length === 2, 5000);

      const result = await cli.run(['stop']);
      assert.deepEqual(result, { code: 0, signal: null, stdout: `stopping schedd (pid ${daemon.pid})...\nstopped\n`, stderr: '' });
      await daemon.waitExit();
      assert.equal(hasExited(started.pid!), true, 'schedd stopped while the removed service was still stopping, and left it running');
      assert.deepEqual(ws.lines('ledger'), [`start ${started.pid}`, `term ${started.pid}`, `done ${started.pid}`]);
      const exited = daemon.all({ msg: 'service exited', job: 'leaving' });
      assert.deepEqual(exited.map((r) => [r.exitCode, r.reason]), [[0, 'stopped: removed from the crontab (exit 0)']]);
    },
  );

  it('schedd stop kills a service that ignores its stop signal at its stop-timeout, not later', async (t) => {
    const ws = workspace(t);
    const deaf = script(ws, 'deaf.sh', "trap '' TERM\necho ready\nwhile :; do sleep 0.1; done");
    ws.write('crontab', service('deaf', deaf, 'stop-timeout=1s'));
    const daemon = ws.start();
    const started = await daemon.waitFor({ msg: 'service started', job: 'deaf' });
    await daemon.waitFor({ msg: 'job output', job: 'deaf', line: 'ready' });
    assert.equal(await daemon.stop(), 0);
    const exited = svc(daemon.all({ msg: 'service exited', job: 'deaf' })[0]!);
    assert.deepEqual([exited.pid, exited.exitCode, exited.signal, exited.reason], [started.pid, null, 'SIGKILL', 'stopped: schedd is stopping (killed by SIGKILL; SIGKILL after 1s grace)']);
    const totalMs = msBetween(daemon.all({ msg: 'stopping' })[0]!.time, daemon.all({ msg: 'schedd stopped' })[0]!.time);
    assert.ok(totalMs >= 950 && totalMs < 2500, `the stop took ${totalMs} ms, expected about the 1 s stop timeout`);
    assert.equal(hasExited(started.pid!), true);
  });
});
