// Services (issue 14) against the real daemon: watch= restarts a service when the content of a
// watched file changes (gracefully: jobs/worker.sh finishes the item in hand), and only then; a
// touch or a save of the same bytes does nothing. watch-action=reload sends the reload signal.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from '../helpers/cli.js';
import { hasExited, killAllDaemons, type DaemonProcess, type Workspace } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/wait.js';
import { script, service, ServiceCli, svc, workspace } from './helpers.js';

after(killAllDaemons);

const worker = join(repoRoot, 'jobs', 'worker.sh');

/** stdout lines of one run. */
function linesOf(daemon: DaemonProcess, run: string, stream: 'stdout' | 'stderr' = 'stdout'): string[] {
  return daemon.all({ msg: 'job output', run, stream }).map((r) => r.line!);
}

/** jobs/worker.sh as a service in `ws`, its config ./worker.conf (watched), its spool under ./out. */
function startWorker(ws: Workspace, options: string): DaemonProcess {
  ws.write('worker.conf', 'WORK_SECONDS=3\nGREETING=one\n');
  ws.write('crontab', `WORKER_CONF=worker.conf\n${service('worker', worker, `watch=worker.conf stop-timeout=10s ${options}`.trim())}`);
  return ws.start();
}

describe('services: watched files', { concurrency: true }, () => {
  it('a touch, or a save of the same bytes, restarts nothing; a change of content restarts the service watching it', async (t) => {
    const ws = workspace(t);
    const idle = script(ws, 'idle.sh', "trap 'exit 0' TERM\nwhile :; do sleep 0.1 & wait $!; done");
    ws.write('a.conf', 'a=1\n');
    ws.write('b.conf', 'b=1\n');
    ws.write('crontab', service('quiet', idle, 'watch=a.conf stop-timeout=2s') + service('fence', idle, 'watch=b.conf stop-timeout=2s'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    const [quiet] = await Promise.all([daemon.waitFor({ msg: 'service started', job: 'quiet' }), daemon.waitFor({ msg: 'service started', job: 'fence' })]);
    await daemon.waitFor({ msg: 'schedd started' });

    const later = new Date(Date.now() + 60_000);
    utimesSync(ws.path('a.conf'), later, later);
    ws.replace('a.conf', 'a=1\n');
    // The fence: a change of b.conf after those of a.conf. Each watch waits out the same 1 s
    // debounce, so a.conf's check runs first; by the time b's restart is logged, a's is decided.
    writeFileSync(ws.path('b.conf'), 'b=2\n');
    const changed = await daemon.waitFor({ msg: 'watched file changed: restarting fence' });
    assert.deepEqual([changed.changed, changed.reason], [[ws.path('b.conf')], 'restart']);
    const restarted = await daemon.waitFor({ msg: 'service started', job: 'fence' }, 15_000, daemon.indexOf(changed));
    assert.equal(restarted.reason, `restarted for a change of ${ws.path('b.conf')}`);
    const exited = await daemon.waitFor({ msg: 'service exited', job: 'fence' });
    assert.deepEqual([exited.exitCode, exited.reason], [0, `restarted for a change of ${ws.path('b.conf')} (exit 0)`]);

    assert.deepEqual(daemon.all((r) => r.msg.startsWith('watched file changed') && r.job === 'quiet'), []);
    assert.deepEqual(daemon.all({ msg: 'service stopping', job: 'quiet' }), []);
    const [view] = await cli.instances('quiet');
    assert.deepEqual([view!.state, view!.pid, view!.restarts], ['running', quiet.pid, 0]);
    assert.equal(await daemon.stop(), 0);
  });

  it('a change of content restarts jobs/worker.sh gracefully: it finishes the item in hand, exits 0, and the new process reads the new config', async (t) => {
    const ws = workspace(t);
    const daemon = startWorker(ws, '');
    const first = await daemon.waitFor({ msg: 'service started', job: 'worker' });
    await daemon.waitFor({ msg: 'job output', run: first.run, line: `worker 0: started (pid ${first.pid}, WORK_SECONDS=3): one` });
    mkdirSync(ws.path('out/spool'), { recursive: true });
    ws.write('out/spool/a.item', 'a\n');
    await waitUntil('the worker to claim a.item', () => existsSync(ws.path('out/work/0/a.item')), 10_000);

    // The item takes 3 s; the restart comes after the 1 s debounce, in the middle of it.
    const from = daemon.records.length;
    writeFileSync(ws.path('worker.conf'), 'WORK_SECONDS=1\nGREETING=two\n');
    const changed = await daemon.waitFor({ msg: 'watched file changed: restarting worker' }, 15_000, from);
    assert.deepEqual(changed.changed, [ws.path('worker.conf')]);
    const because = `restarted for a change of ${ws.path('worker.conf')}`;
    const exited = svc(await daemon.waitFor({ msg: 'service exited', job: 'worker' }, 15_000, from));
    assert.deepEqual([exited.pid, exited.exitCode, exited.signal, exited.reason], [first.pid, 0, null, `${because} (exit 0)`]);
    assert.equal(existsSync(ws.path('out/work/0/a.item')), false, 'exited with the item still in hand');
    assert.deepEqual(linesOf(daemon, first.run!), [
      `worker 0: started (pid ${first.pid}, WORK_SECONDS=3): one`,
      'worker 0: got SIGTERM, finishing a.item first',
      'worker 0: did a.item in 3s',
      'worker 0: stopped by SIGTERM, exit 0',
    ]);
    assert.deepEqual(linesOf(daemon, first.run!, 'stderr'), []);
    assert.equal(existsSync(ws.path('out/done/a.item')), true);
    const done = ws.lines('out/worker.log');
    assert.equal(done.length, 1);
    assert.match(done[0]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ worker 0 pid=${first.pid} item=a\\.item seconds=3 greeting=one$`));

    const second = await daemon.waitFor({ msg: 'service started', job: 'worker' }, 15_000, from);
    assert.equal(second.reason, because);
    await daemon.waitFor({ msg: 'job output', run: second.run, line: `worker 0: started (pid ${second.pid}, WORK_SECONDS=1): two` });
    assert.equal(hasExited(first.pid!), true);
    const runs = await new ServiceCli(ws).history('worker');
    assert.deepEqual(
      runs.map((run) => [run.pid, run.outcome, run.exitCode, run.reason]),
      [
        [first.pid, 'ok', 0, `${because} (exit 0)`],
        [second.pid, 'running', null, null],
      ],
    );
    assert.equal(daemon.all({ msg: 'service stopping', job: 'worker' }).length, 1, 'one change, one restart');
    assert.equal(await daemon.stop(), 0);
  });

  it('watch-action=reload sends the reload signal instead: jobs/worker.sh re-reads its config and keeps its pid', async (t) => {
    const ws = workspace(t);
    const daemon = startWorker(ws, 'watch-action=reload reload-signal=HUP');
    const started = await daemon.waitFor({ msg: 'service started', job: 'worker' });
    await daemon.waitFor({ msg: 'job output', run: started.run, line: `worker 0: started (pid ${started.pid}, WORK_SECONDS=3): one` });
    writeFileSync(ws.path('worker.conf'), 'WORK_SECONDS=1\nGREETING=two\n');
    const changed = await daemon.waitFor({ msg: 'watched file changed: reloading worker' });
    assert.deepEqual([changed.changed, changed.reason], [[ws.path('worker.conf')], 'reload']);
    await daemon.waitFor({ msg: 'job output', run: started.run, line: 'worker 0: reloaded worker.conf (WORK_SECONDS=1): two' });
    const [view] = await new ServiceCli(ws).instances('worker');
    assert.deepEqual([view!.state, view!.pid, view!.restarts, view!.lastExit], ['running', started.pid, 0, null]);
    assert.deepEqual(daemon.all({ msg: 'service stopping' }), []);
    assert.equal(await daemon.stop(), 0);
  });
});
