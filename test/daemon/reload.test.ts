// `schedd start --foreground`: reloading the crontab while jobs run.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { killAllDaemons, workspace } from '../helpers/daemon.js';

after(killAllDaemons);

const job = (name: string, command: string, options = ''): string => `# schedd: name=${name}${options}\n* * * * * * ${command}\n`;

describe('schedd start: reload', { concurrency: true }, () => {
  it('reloads when a new file is renamed over the crontab: the new job fires, the removed one stops', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', job('old', 'echo old'));
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'job finished', job: 'old' });
    ws.replace('crontab', job('new', 'echo new'));
    const reloaded = await daemon.waitFor({ msg: 'crontab reloaded' });
    assert.deepEqual(
      { reason: reloaded.reason, added: reloaded.added, changed: reloaded.changed, removed: reloaded.removed, unchanged: reloaded.unchanged, jobs: reloaded.jobs },
      { reason: 'file changed', added: ['new'], changed: [], removed: ['old'], unchanged: 0, jobs: 1 },
    );
    const from = daemon.indexOf(reloaded);
    const runs = await daemon.waitForCount({ msg: 'job finished', job: 'new' }, 2, 15_000, from);
    for (const run of runs) assert.deepEqual(daemon.all({ msg: 'job output', run: run.run }).map((r) => r.line), ['new']);
    assert.deepEqual(daemon.all({ msg: 'job started', job: 'old' }, from), [], 'the removed job fired after the reload');
    assert.equal(daemon.all({ msg: 'crontab reloaded' }).length, 1, 'one save, one reload');
  });

  it('reloads on SIGHUP, and by itself when the target of a symlinked crontab is edited in place', async (t) => {
    const ws = workspace(t);
    // Regression: the crontab is a symlink into another folder, and the watch used to cover only
    // the link's folder, so an edit of the target went unnoticed until SIGHUP.
    mkdirSync(ws.path('dotfiles'));
    const target = ws.write('dotfiles/crontab', job('greet', 'echo hello'));
    symlinkSync(target, ws.path('crontab'));
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'job finished', job: 'greet' });

    daemon.signal('SIGHUP');
    const unchanged = await daemon.waitFor({ msg: 'crontab unchanged' });
    assert.equal(unchanged.reason, 'SIGHUP');

    writeFileSync(target, job('greet', 'echo bonjour') + job('extra', 'echo extra'));
    const reloaded = await daemon.waitFor({ msg: 'crontab reloaded' });
    assert.deepEqual(
      { reason: reloaded.reason, added: reloaded.added, changed: reloaded.changed, removed: reloaded.removed, unchanged: reloaded.unchanged, jobs: reloaded.jobs },
      { reason: 'file changed', added: ['extra'], changed: ['greet'], removed: [], unchanged: 0, jobs: 2 },
    );
    const from = daemon.indexOf(reloaded);
    const [greet, extra] = await Promise.all([
      daemon.waitFor({ msg: 'job started', job: 'greet' }, 15_000, from).then((run) => daemon.waitFor({ msg: 'job finished', run: run.run })),
      daemon.waitFor({ msg: 'job finished', job: 'extra' }, 15_000, from),
    ]);
    assert.deepEqual(daemon.all({ msg: 'job output', run: greet.run }).map((r) => r.line), ['bonjour']);
    assert.deepEqual(daemon.all({ msg: 'job output', run: extra.run }).map((r) => r.line), ['extra']);
    assert.equal(daemon.all({ msg: 'crontab reloaded' }).length, 1, 'one edit, one reload');
  });

  it('regression: a reload read a half-written in-place rewrite (empty between truncate and write) and dropped every job', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', job('greet', 'echo hello'));
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'job finished', job: 'greet' });
    // The writer's truncate, caught before its write: the daemon must wait for the rest.
    writeFileSync(ws.path('crontab'), '');
    const incomplete = await daemon.waitFor({ msg: 'crontab looks incomplete (empty); reading it again' });
    assert.equal(incomplete.reason, 'file changed');
    writeFileSync(ws.path('crontab'), job('greet', 'echo hello') + job('extra', 'echo extra'));
    const reloaded = await daemon.waitFor({ msg: 'crontab reloaded' });
    assert.deepEqual({ added: reloaded.added, removed: reloaded.removed, jobs: reloaded.jobs }, { added: ['extra'], removed: [], jobs: 2 });
    assert.equal(daemon.all({ msg: 'crontab reloaded' }).length, 1, 'the empty read was never applied');
  });

  it('an emptied crontab is applied once it stays empty', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', job('greet', 'echo hello'));
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'job finished', job: 'greet' });
    writeFileSync(ws.path('crontab'), '');
    const reloaded = await daemon.waitFor({ msg: 'crontab reloaded' });
    assert.deepEqual({ removed: reloaded.removed, jobs: reloaded.jobs }, { removed: ['greet'], jobs: 0 });
    assert.equal(daemon.all({ msg: 'crontab looks incomplete (empty); reading it again' }).length, 1);
  });

  it('rejects an invalid crontab with every error located, and keeps the old schedule running', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', job('keeper', 'echo alive'));
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'job finished', job: 'keeper' });
    ws.replace('crontab', job('keeper', 'echo alive') + '61 * * * * * echo bad\n' + job('other', 'echo other', ' overlap=sometimes'));
    const summary = await daemon.waitFor((r) => r.msg.startsWith('reload rejected:') && r.errors !== undefined);
    const errors = ["crontab:3:1: invalid second '61' (expected 0-59)", "crontab:4:30: invalid overlap 'sometimes' (expected skip|allow|queue|replace)"];
    assert.deepEqual(
      { level: summary.level, msg: summary.msg, reason: summary.reason, errors: summary.errors },
      { level: 50, msg: 'reload rejected: crontab has 2 errors; keeping the current schedule', reason: 'file changed', errors },
    );
    assert.deepEqual(
      daemon.all((r) => r.msg.startsWith('reload rejected:') && r.errors === undefined).map((r) => [r.level, r.msg]),
      errors.map((error) => [50, `reload rejected: ${error}`]),
    );

    const from = daemon.indexOf(summary);
    const runs = await daemon.waitForCount({ msg: 'job finished', job: 'keeper' }, 2, 15_000, from);
    for (const run of runs) assert.deepEqual(daemon.all({ msg: 'job output', run: run.run }).map((r) => r.line), ['alive']);
    assert.deepEqual(daemon.all({ msg: 'crontab reloaded' }), []);

    // Fixing the file is an ordinary reload against the schedule that kept running.
    ws.replace('crontab', job('keeper', 'echo alive') + job('other', 'echo other'));
    const reloaded = await daemon.waitFor({ msg: 'crontab reloaded' });
    assert.deepEqual([reloaded.added, reloaded.changed, reloaded.removed, reloaded.unchanged], [['other'], [], [], 1]);
    await daemon.waitFor({ msg: 'job finished', job: 'other' }, 15_000, daemon.indexOf(reloaded));
    assert.deepEqual(daemon.all((r) => r.msg === 'job started' && r.job !== 'keeper' && r.job !== 'other'), []);
  });

  it('regression: a job removed from the crontab while it ran still retried, starting processes after its removal', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', job('doomed', 'echo "attempt $SCHEDD_RUN_ID" >> ledger; sleep 1.5; exit 1', ' retries=2') + job('marker', 'true'));
    const daemon = ws.start();
    const first = await daemon.waitFor({ msg: 'job started', job: 'doomed' });
    ws.replace('crontab', job('marker', 'true'));
    const reloaded = await daemon.waitFor({ msg: 'crontab reloaded' });
    assert.deepEqual(reloaded.removed, ['doomed']);
    const failed = await daemon.waitFor({ msg: 'job failed', run: first.run }, 15_000);
    assert.ok(daemon.indexOf(reloaded) < daemon.indexOf(failed), 'the job was removed while its first attempt ran');
    // Give a retry time to show: the first backoff is 1 s, and marker fires every second.
    const markers = await daemon.waitForCount({ msg: 'job finished', job: 'marker' }, 2, 15_000, daemon.indexOf(failed));
    const after = daemon.records.slice(daemon.indexOf(reloaded), daemon.indexOf(markers[1]!));
    assert.deepEqual(
      after.filter((r) => r.job === 'doomed' && r.msg !== 'job failed').map((r) => [r.msg, r.attempt]),
      [],
      'after its removal the job should only finish the attempt that was running',
    );
  });

  it('regression: a SIGHUP just after "schedd started" killed the daemon (its handler was installed after start-up)', async (t) => {
    const ws = workspace(t);
    // An @reboot job makes start-up write the boot id after "schedd started": the window this
    // regression had was wide open then (10 deaths in 10 tries), and without it still about half.
    ws.write('crontab', `@reboot sleep 0.2\n${job('tick', 'true')}`);
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'schedd started' });
    daemon.signal('SIGHUP');
    const unchanged = await daemon.waitFor({ msg: 'crontab unchanged' });
    assert.equal(unchanged.reason, 'SIGHUP');
    await daemon.waitFor({ msg: 'job finished', job: 'tick' }, 15_000, daemon.indexOf(unchanged));
    assert.equal(await daemon.stop(), 0);
  });
});
