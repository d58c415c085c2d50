// Detached mode: stopping with a job running, and reloading (rejected, by SIGHUP, by `schedd reload`).
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { hasExited } from '../../helpers/daemon.js';
import { cleanupAll, instance, type Instance, type LogLine } from '../../helpers/detached.js';
import { waitUntil } from '../../helpers/wait.js';

after(cleanupAll);

function pick(record: LogLine, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((f) => record[f] !== undefined).map((f) => [f, record[f]]));
}

const yearly = (name: string, command = 'true'): string => `# schedd: name=${name}\n0 0 1 1 * ${command}\n`;

/**
 * An instance whose crontab is conf/crontab, conf a symlink to a folder v1/. `edit` writes the
 * next version in a new folder and renames a new symlink over conf, as a Kubernetes ConfigMap
 * update does. The daemon watches the folder the crontab resolved to at start, which never
 * changes, so only SIGHUP and `schedd reload` bring an edit in, and their outcome is not raced by
 * the file watch.
 */
function swappedInstance(t: { after(fn: () => unknown): void }, text: string): { s: Instance; edit(text: string): void } {
  const s = instance(t, { crontab: 'conf/crontab' });
  let version = 0;
  const edit = (next: string): void => {
    version++;
    mkdirSync(s.path(`v${version}`));
    s.write(`v${version}/crontab`, next);
    symlinkSync(`v${version}`, s.path('conf.new'));
    renameSync(s.path('conf.new'), s.path('conf'));
  };
  edit(text);
  return { s, edit };
}

describe('schedd start (detached): stop and reload', { concurrency: true }, () => {
  it('stop waits for a running job: the file it writes after 2 s exists when stop returns', async (t) => {
    const s = instance(t);
    // The job's 2 s start when the daemon logs that it is stopping, so however slow this machine
    // is at running the CLI, stop is asked while the job runs.
    const slow = `until grep -q '"msg":"stopping' state/schedd.log; do sleep 0.02; done; sleep 2; echo "done $SCHEDD_RUN_ID" > "done-$SCHEDD_RUN_ID"`;
    s.write('crontab', yearly('slow', slow));
    const pid = await s.started();
    const { schedulerPid } = await s.status();
    const run = await s.cli(['run', 'slow', '--state-dir', s.stateDir]);
    const runId = run.stdout.trim();
    assert.deepEqual(run, { code: 0, signal: null, stdout: `${runId}\n`, stderr: '' });
    const started = await s.waitForLog({ msg: 'job started', run: runId });
    // overlap=skip, the default: another run while this one is active is refused.
    assert.deepEqual(await s.cli(['run', 'slow', '--state-dir', s.stateDir]), {
      code: 1,
      signal: null,
      stdout: '',
      stderr: 'schedd: slow skipped: previous run still active (overlap=skip)\n',
    });
    const startedAt = Date.parse(started.record.scheduledAt!) + started.record.lateMs!;
    assert.deepEqual((await s.status()).running, [{ job: 'slow', run: runId, pid: started.record.pid, startedAt: new Date(startedAt).toISOString() }]);

    const stop = await s.stop();
    const returnedAt = Date.now();
    assert.deepEqual(stop, { code: 0, signal: null, stdout: `stopping schedd (pid ${pid})...\nstopped\n`, stderr: '' });
    assert.equal(s.read(`done-${runId}`), `done ${runId}\n`);
    const stoppingAt = Date.parse(s.all((r) => r.msg.startsWith('stopping'))[0]!.time);
    assert.ok(returnedAt - stoppingAt >= 2000, `stop returned ${returnedAt - stoppingAt} ms after the daemon began to stop`);
    assert.ok(hasExited(pid) && hasExited(schedulerPid) && hasExited(started.record.pid!));
    const records = s.records();
    assert.deepEqual(
      records.slice(records.findIndex((r) => r.msg.startsWith('stopping'))).map((r) => pick(r, ['msg', 'reason', 'running', 'run', 'outcome', 'exitCode'])),
      [
        { msg: 'stopping: waiting up to 30 s for 1 running job', reason: 'SIGTERM', running: 1 },
        { msg: 'job finished', run: runId, outcome: 'ok', exitCode: 0 },
        { msg: 'schedd stopped' },
      ],
    );
    await waitUntil('every process to be gone', () => s.processes().length === 0, 5000).catch(() => undefined);
    assert.deepEqual(s.processes(), []);
  });

  it('a bad reload exits 1 with every error, and the old job keeps firing with its old command', async (t) => {
    const s = instance(t);
    s.write('crontab', '# schedd: name=tick\n* * * * * * echo "tick $SCHEDD_RUN_ID"\n');
    const pid = await s.started();
    await s.waitForLog({ msg: 'job finished', job: 'tick' });

    s.replace('crontab', '# schedd: name=tick\n* * * * * * echo changed\n# schedd: name=broken\n61 * * * * * echo bad\n# schedd: overlap=sometimes\n* * * * * * echo other\n');
    const file = s.crontabPath;
    const errors = [`${file}:4:1: invalid second '61' (expected 0-59)`, `${file}:5:19: invalid overlap 'sometimes' (expected skip|allow|queue|replace)`];
    // The file watch rejects the save too; `schedd reload` re-reads it and says why, in full.
    assert.deepEqual(await s.cli(['reload', '--state-dir', s.stateDir]), {
      code: 1,
      signal: null,
      stdout: '',
      stderr: `${errors.join('\n')}\nschedd: reload rejected; the current schedule keeps running\n`,
    });
    const rejected = await s.waitForLog({ msg: `reload rejected: ${file} has 2 errors; keeping the current schedule`, reason: 'schedd reload' });
    assert.deepEqual(rejected.record.errors, errors);

    const next = await s.waitForLog({ msg: 'job started', job: 'tick' }, { from: rejected.index });
    await s.waitForLog({ msg: 'job finished', run: next.record.run }, { from: next.index });
    assert.deepEqual(s.all({ msg: 'job output', run: next.record.run }).map((r) => r.line), [`tick ${next.record.run}`]);
    assert.deepEqual(s.all({ job: 'broken' }), []);

    const status = await s.status();
    assert.deepEqual([status.jobs, status.lastReload?.ok, status.lastReload?.errors], [1, false, errors]);
    const text = await s.cli(['status', '--state-dir', s.stateDir]);
    const lines = text.stdout.split('\n');
    assert.match(lines[3]!, /^last reload: \d+s ago, rejected, 2 errors$/);
    assert.deepEqual(lines.slice(4, 6), errors.map((e) => `  ${e}`));
    assert.deepEqual(await s.stop(), { code: 0, signal: null, stdout: `stopping schedd (pid ${pid})...\nstopped\n`, stderr: '' });
  });

  it('SIGHUP to the pidfile pid reloads, and `schedd reload` says exactly what changed', async (t) => {
    const { s, edit } = swappedInstance(t, yearly('a') + yearly('c'));
    const pid = await s.started();
    const { schedulerPid } = await s.status();

    process.kill(pid, 'SIGHUP');
    const unchanged = await s.waitForLog({ msg: 'crontab unchanged', reason: 'SIGHUP' });

    edit(yearly('a', 'echo a') + yearly('b') + yearly('c'));
    process.kill(pid, 'SIGHUP');
    const reloaded = await s.waitForLog({ msg: 'crontab reloaded' }, { from: unchanged.index });
    assert.deepEqual(pick(reloaded.record, ['reason', 'added', 'changed', 'removed', 'unchanged', 'jobs']), {
      reason: 'SIGHUP',
      added: ['b'],
      changed: ['a'],
      removed: [],
      unchanged: 1,
      jobs: 3,
    });

    edit(yearly('a', 'echo A') + yearly('b', 'echo b') + yearly('d'));
    assert.deepEqual(await s.cli(['reload', '--state-dir', s.stateDir]), { code: 0, signal: null, stdout: 'reloaded: added 1 (d), changed 2 (a, b), removed 1 (c)\n', stderr: '' });
    const again = await s.cli(['reload', '--state-dir', s.stateDir]);
    assert.deepEqual({ ...again, stdout: '' }, { code: 0, signal: null, stdout: '', stderr: '' });
    assert.match(again.stdout, /^crontab already applied by the reload at \d\d:\d\d:\d\d \(schedd reload\): added 1 \(d\), changed 2 \(a, b\), removed 1 \(c\)\n$/);

    const status = await s.status();
    assert.deepEqual([status.jobs, status.lastReload?.ok, status.schedulerPid, status.restarts], [3, true, schedulerPid, 0]);
    const list = JSON.parse((await s.cli(['list', '--json', '--state-dir', s.stateDir, '-c', s.crontabPath])).stdout) as { id: string; command: string }[];
    assert.deepEqual(list.map((view) => [view.id, view.command]), [['a', 'echo A'], ['b', 'echo b'], ['d', 'true']]);
    assert.deepEqual(await s.stop(), { code: 0, signal: null, stdout: `stopping schedd (pid ${pid})...\nstopped\n`, stderr: '' });
  });

  // Found while writing these tests, fixed in 6aa4521. The control handler answered a reload
  // with { unchanged: outcome.unchanged === true, ...diff }, and the diff has its own `unchanged`,
  // the number of jobs that stayed the same, which overwrote the flag. Any reload that kept one
  // job as it was answered unchanged: 1, and `schedd reload` printed "crontab unchanged" although
  // the daemon had just applied the edit (its log said "crontab reloaded").
  it('regression: `schedd reload` printed "crontab unchanged" after a real reload when some job stayed the same', async (t) => {
    const { s, edit } = swappedInstance(t, yearly('a') + yearly('b'));
    await s.started();
    edit(yearly('a', 'echo a') + yearly('b') + yearly('c'));
    const reload = await s.cli(['reload', '--state-dir', s.stateDir]);
    const reloaded = await s.waitForLog({ msg: 'crontab reloaded', reason: 'schedd reload' });
    assert.deepEqual(pick(reloaded.record, ['added', 'changed', 'removed', 'unchanged']), { added: ['c'], changed: ['a'], removed: [], unchanged: 1 });
    assert.deepEqual(reload, { code: 0, signal: null, stdout: 'reloaded: added 1 (c), changed 1 (a), removed 0\n', stderr: '' });
  });

  it('regression (issue 11 item 20): `schedd reload` right after a saved edit says what the watcher\'s reload changed, and when', async (t) => {
    const s = instance(t, { crontab: 'crontab' });
    s.write('crontab', yearly('a'));
    await s.started();
    s.replace('crontab', yearly('a') + yearly('b'));
    const applied = await s.waitForLog({ msg: 'crontab reloaded', reason: 'file changed' });
    const reply = await s.cli(['reload', '--state-dir', s.stateDir]);
    assert.deepEqual({ ...reply, stdout: '' }, { code: 0, signal: null, stdout: '', stderr: '' });
    const said = /^crontab already applied by the reload at (\d\d:\d\d:\d\d) \(file changed\): added 1 \(b\), changed 0, removed 0\n$/.exec(reply.stdout);
    assert.ok(said !== null, reply.stdout);
    // The reload's start (the reply's time, TZ=UTC) is within a second of its log record.
    const loggedAt = new Date(applied.record.time).getTime();
    const stated = Date.parse(`${new Date(loggedAt).toISOString().slice(0, 10)}T${said[1]}Z`);
    assert.ok(loggedAt - stated >= 0 && loggedAt - stated < 2000, `${said[1]} vs ${new Date(loggedAt).toISOString()}`);
  });

  // Found while writing these tests (at bc9dee1, which made the watch follow a symlinked
  // crontab's target "for a ConfigMap"). Kubernetes updates a mounted ConfigMap by writing a new
  // ..<timestamp> folder, renaming a new ..data symlink over the old one and deleting the old
  // folder; the crontab is crontab -> ..data/crontab. The watch is set up once, on the folder the
  // crontab resolved to at start: the first update is seen (its folder's crontab is deleted),
  // every later one is not, because nothing watches the folders that came after.
  it('regression: after a ConfigMap-style update the file watch missed every later update of the crontab', async (t) => {
    const s = instance(t);
    let version = 0;
    const update = (command: string): void => {
      version++;
      mkdirSync(s.path(`..v${version}`));
      s.write(`..v${version}/crontab`, yearly('a', command));
      symlinkSync(`..v${version}`, s.path('..data_tmp'));
      renameSync(s.path('..data_tmp'), s.path('..data'));
      if (version > 1) rmSync(s.path(`..v${version - 1}`), { recursive: true });
    };
    update('echo 1');
    symlinkSync('..data/crontab', s.crontabPath);
    await s.started();

    update('echo 2');
    const first = await s.waitForLog({ msg: 'crontab reloaded', reason: 'file changed' });
    assert.deepEqual(first.record.changed, ['a']);
    update('echo 3');
    // The first update took well under a second to be applied; give this one 5 s.
    await s.waitForLog({ msg: 'crontab reloaded', reason: 'file changed' }, { from: first.index + 1, timeoutMs: 5000 }).catch(() => undefined);
    const list = JSON.parse((await s.cli(['list', '--json', '--state-dir', s.stateDir, '-c', s.crontabPath])).stdout) as { id: string; command: string }[];
    assert.deepEqual(list.map((view) => [view.id, view.command]), [['a', 'echo 3']]);
  });
});
