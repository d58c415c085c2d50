// Services (issue 14) against the real daemon: `schedd service reload|signal` (the process
// keeps running) and edits of the crontab (only what changed is restarted, once; what was
// removed is stopped gracefully).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { hasExited, killAllDaemons } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/wait.js';
import { script, service, ServiceCli, svc, workspace } from './helpers.js';

after(killAllDaemons);

/** Appends `start NAME ARG PID` to ./ledger, `term NAME ARG PID` on TERM (then exit 0), and idles. */
const LEDGER_SERVICE = ['trap \'echo "term $1 $2 $$" >> ledger; exit 0\' TERM', 'echo "start $1 $2 $$" >> ledger', 'while :; do sleep 0.1 & wait $!; done'].join('\n');

describe('services: reload, signals and crontab edits', { concurrency: true }, () => {
  it('schedd service reload sends the reload signal: the service reloads and keeps its pid', async (t) => {
    const ws = workspace(t);
    const reloading = script(ws, 'reloading.sh', ['trap \'echo "HUP $$" >> signals\' HUP', 'trap \'echo "USR1 $$" >> signals\' USR1', 'echo ready', 'while :; do sleep 0.1 & wait $!; done'].join('\n'));
    ws.write('crontab', service('reloading', reloading, 'reload-signal=HUP stop-timeout=2s'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    const started = await daemon.waitFor({ msg: 'service started', job: 'reloading' });
    await daemon.waitFor({ msg: 'job output', job: 'reloading', line: 'ready' });
    const pid = started.pid!;

    const reloaded = await cli.run(['service', 'reload', 'reloading']);
    assert.deepEqual(reloaded, { code: 0, signal: null, stdout: `reloading: signalled (pid ${pid})\n`, stderr: '' });
    await waitUntil('the HUP trap to write its line', () => ws.lines('signals').length === 1, 5000);
    assert.deepEqual(ws.lines('signals'), [`HUP ${pid}`]);
    const logged = daemon.all({ msg: 'service reloaded', job: 'reloading' });
    assert.deepEqual(logged.map((r) => [r.signal, r.count]), [['SIGHUP', 1]]);

    const signalled = await cli.run(['service', 'signal', 'reloading', 'usr1']);
    assert.deepEqual(signalled, { code: 0, signal: null, stdout: `reloading: signalled (pid ${pid})\n`, stderr: '' });
    await waitUntil('the USR1 trap to write its line', () => ws.lines('signals').length === 2, 5000);
    assert.deepEqual(ws.lines('signals'), [`HUP ${pid}`, `USR1 ${pid}`]);
    assert.deepEqual(daemon.all({ msg: 'service signalled', job: 'reloading' }).map((r) => [r.signal, r.count]), [['SIGUSR1', 1]]);

    const [view] = await cli.instances('reloading');
    assert.deepEqual([view!.state, view!.pid, view!.restarts, view!.lastExit], ['running', pid, 0, null]);
    assert.equal(hasExited(pid), false);
    assert.deepEqual(daemon.all({ msg: 'service exited' }), []);
    assert.equal(daemon.all({ msg: 'service started' }).length, 1);
    assert.equal(await daemon.stop(), 0);
  });

  it('an edit restarts exactly the changed service, once; an unchanged one (moved down a line) keeps its pid; a removed one is stopped gracefully', async (t) => {
    const ws = workspace(t);
    const ledger = script(ws, 'ledger.sh', LEDGER_SERVICE);
    const entry = (name: string, arg: string): string => service(name, `${ledger} ${name} ${arg}`, 'stop-timeout=2s');
    ws.write('crontab', entry('changed', 'v1') + entry('same', 'v1') + entry('removed', 'v1'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    await waitUntil('three services to write their start', () => ws.lines('ledger').length === 3, 15_000);
    const before = new Map((await cli.waitState('same', 'running')).concat(await cli.waitState('changed', 'running'), await cli.waitState('removed', 'running')).map((row) => [row.id, row.pid!]));

    // The reload's own record comes after the starts and stops it set off.
    const from = daemon.records.length;
    ws.replace('crontab', `# a comment moves every entry down a line\n${entry('changed', 'v2')}${entry('same', 'v1')}${entry('added', 'v1')}`);
    const reloaded = await daemon.waitFor({ msg: 'crontab reloaded' }, 15_000, from);
    assert.deepEqual(
      { added: reloaded.added, changed: reloaded.changed, removed: reloaded.removed, unchanged: reloaded.unchanged, jobs: reloaded.jobs },
      { added: ['added'], changed: ['changed'], removed: ['removed'], unchanged: 1, jobs: 0 },
    );
    const restarted = await daemon.waitFor({ msg: 'service started', job: 'changed' }, 15_000, from);
    assert.equal(restarted.reason, 'restarted for a crontab edit');
    const gone = svc(await daemon.waitFor({ msg: 'service exited', job: 'removed' }, 15_000, from));
    assert.deepEqual([gone.pid, gone.exitCode, gone.signal, gone.reason], [before.get('removed'), 0, null, 'stopped: removed from the crontab (exit 0)']);
    const added = await daemon.waitFor({ msg: 'service started', job: 'added' }, 15_000, from);
    assert.equal(added.reason, 'added by file changed');
    await cli.waitState('changed', 'running');

    // A fence: a reload that changes nothing. A second restart of `changed` would have to be
    // under way by now (the first is done: running again).
    daemon.signal('SIGHUP');
    await daemon.waitFor({ msg: 'crontab unchanged' }, 15_000, from);
    const byJob = (msg: string, job: string): number => daemon.all({ msg, job }).length;
    assert.deepEqual(
      ['changed', 'same', 'removed', 'added'].map((job) => [job, byJob('service started', job), byJob('service stopping', job), byJob('service exited', job)]),
      [
        ['changed', 2, 1, 1],
        ['same', 1, 0, 0],
        ['removed', 1, 1, 1],
        ['added', 1, 0, 0],
      ],
    );
    const after = await cli.list();
    assert.deepEqual(
      after.map((row) => [row.id, row.state]),
      [
        ['changed', 'running'],
        ['same', 'running'],
        ['added', 'running'],
      ],
    );
    assert.equal(after.find((row) => row.id === 'same')!.pid, before.get('same'));
    assert.equal(after.find((row) => row.id === 'same')!.restarts, 0);
    const changedPid = after.find((row) => row.id === 'changed')!.pid!;
    assert.equal(changedPid, restarted.pid);
    // Each stop went through the service's TERM trap: graceful, in this order.
    const lines = ws.lines('ledger');
    assert.deepEqual(lines.slice(0, 3).sort(), [`start changed v1 ${before.get('changed')}`, `start removed v1 ${before.get('removed')}`, `start same v1 ${before.get('same')}`]);
    assert.deepEqual(lines.slice(3).sort(), [`start added v1 ${added.pid}`, `start changed v2 ${changedPid}`, `term changed v1 ${before.get('changed')}`, `term removed v1 ${before.get('removed')}`]);
    assert.ok(lines.indexOf(`term changed v1 ${before.get('changed')}`) < lines.indexOf(`start changed v2 ${changedPid}`), 'the new process started before the old one stopped');
    const history = await cli.history('changed');
    assert.deepEqual(
      history.map((run) => [run.pid, run.outcome, run.exitCode, run.reason]),
      [
        [before.get('changed'), 'ok', 0, 'restarted for a crontab edit (exit 0)'],
        [changedPid, 'running', null, null],
      ],
    );
    assert.equal(await daemon.stop(), 0);
  });

  it(
    'regression: an edit that fixes a failed service starts it with the new definition, not retry-after later',
    async (t) => {
      const ws = workspace(t);
      ws.write('crontab', service('fixme', 'false', 'restart-delay=100ms start-limit=2/1m stop-timeout=2s'));
      const daemon = ws.start();
      const cli = new ServiceCli(ws);
      await daemon.waitFor({ msg: 'service failed: start limit reached', job: 'fixme' });
      const from = daemon.records.length;
      ws.replace('crontab', service('fixme', 'sleep 1000', 'restart-delay=100ms start-limit=2/1m stop-timeout=2s'));
      const reloaded = await daemon.waitFor({ msg: 'crontab reloaded' }, 15_000, from);
      assert.deepEqual(reloaded.changed, ['fixme']);
      const started = await daemon.waitFor({ msg: 'service started', job: 'fixme' }, 5000, from);
      const [view] = await cli.waitState('fixme', 'running');
      assert.equal(view!.pid, started.pid);
      assert.equal(await daemon.stop(), 0);
    },
  );

  it(
    "regression: the 'service stopping' record of an edit names the signal the old process really gets",
    async (t) => {
      const ws = workspace(t);
      const traps = script(ws, 'traps.sh', ['trap \'echo "INT $$" >> ledger; exit 0\' INT', 'trap \'echo "TERM $$" >> ledger; exit 0\' TERM', 'while :; do sleep 0.1 & wait $!; done'].join('\n'));
      ws.write('crontab', service('traps', traps, 'stop-signal=INT stop-timeout=3s'));
      const daemon = ws.start();
      const started = await daemon.waitFor({ msg: 'service started', job: 'traps' });
      ws.replace('crontab', service('traps', traps, 'stop-signal=TERM stop-timeout=3s'));
      const stopping = svc(await daemon.waitFor({ msg: 'service stopping', job: 'traps' }));
      await waitUntil('the old process to trap its stop signal', () => ws.lines('ledger').length === 1, 10_000);
      // Which of the two signals is right is the fix's choice; the record must tell the truth.
      const [got] = ws.lines('ledger');
      assert.match(got!, new RegExp(`^(INT|TERM) ${started.pid}$`));
      assert.equal(stopping.signal, `SIG${got!.split(' ')[0]}`, `the process got SIG${got!.split(' ')[0]}, the log says ${stopping.signal}`);
      assert.equal(await daemon.stop(), 0);
    },
  );

  it('a change of instances= starts or stops only the instances beyond the count; the others keep their pids', async (t) => {
    const ws = workspace(t);
    const ledger = script(ws, 'ledger.sh', ['trap \'echo "term $SCHEDD_INSTANCE $$" >> ledger; exit 0\' TERM', 'echo "start $SCHEDD_INSTANCE $$" >> ledger', 'while :; do sleep 0.1 & wait $!; done'].join('\n'));
    const entry = (count: number): string => service('pool', ledger, `instances=${count} stop-timeout=2s`);
    ws.write('crontab', entry(2));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    await daemon.waitFor({ msg: 'schedd started' });
    const two = await cli.waitState('pool', 'running');
    assert.deepEqual(two.map((row) => [row.instance, row.instances]), [[0, 2], [1, 2]]);

    ws.replace('crontab', entry(3));
    const grown = await daemon.waitFor({ msg: 'crontab reloaded' });
    assert.deepEqual([grown.changed, grown.unchanged], [['pool'], 0]);
    const three = await cli.waitState('pool', 'running');
    assert.deepEqual(three.map((row) => [row.instance, row.instances]), [[0, 3], [1, 3], [2, 3]]);
    assert.deepEqual(three.slice(0, 2).map((row) => row.pid), two.map((row) => row.pid));

    ws.replace('crontab', entry(1));
    const shrunk = await daemon.waitFor({ msg: 'crontab reloaded' }, 15_000, daemon.indexOf(grown) + 1);
    assert.deepEqual(shrunk.changed, ['pool']);
    await waitUntil('instances 1 and 2 to stop', () => ws.lines('ledger').filter((line) => line.startsWith('term')).length === 2, 10_000);
    const one = await cli.waitState('pool', 'running');
    assert.deepEqual(one.map((row) => [row.instance, row.instances, row.pid]), [[0, 1, two[0]!.pid]]);
    assert.deepEqual(ws.lines('ledger').filter((line) => line.startsWith('term')).sort(), [`term 1 ${two[1]!.pid}`, `term 2 ${three[2]!.pid}`]);
    assert.deepEqual(
      daemon.all({ msg: 'service exited', job: 'pool' }).map((r) => [svc(r).instance, r.exitCode, r.reason]).sort(),
      [
        [1, 0, 'stopped: instances=1 (exit 0)'],
        [2, 0, 'stopped: instances=1 (exit 0)'],
      ],
    );
    assert.equal(daemon.all({ msg: 'service stopping', job: 'pool' }).length, 2);
    assert.equal(await daemon.stop(), 0);
  });
});
