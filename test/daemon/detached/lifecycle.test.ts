// `schedd start` detached: a daemon's whole life through the CLI, refusals, and failed starts.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { JobView } from '../../../src/job-view.js';
import { hasExited } from '../../helpers/daemon.js';
import { cleanupAll, instance, procStat, type LogLine } from '../../helpers/detached.js';
import { waitUntil } from '../../helpers/wait.js';

/** `schedd status` when nothing runs: exit 3, and when the daemon ran before, when it was last seen. */
function assertNotRunning(result: { code: number | null; signal: string | null; stdout: string; stderr: string }, stateDir: string): void {
  assert.deepEqual({ code: result.code, signal: result.signal, stderr: result.stderr }, { code: 3, signal: null, stderr: '' });
  const escaped = stateDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(result.stdout, new RegExp(`^schedd is not running \\(state directory ${escaped}(; last seen \\d+[smhd]( \\d+[smh])? ago)?\\)\\n$`));
}

after(cleanupAll);

/** An instant as `list` prints `next`: whole seconds, UTC offset. */
const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');

function pick(record: LogLine, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((f) => record[f] !== undefined).map((f) => [f, record[f]]));
}

/**
 * Three seconds of the minute, 20 s apart, the first about 5 s from now (after `start` and
 * `status`, so `running` is [] there). A job firing every second could be running at the very
 * moment `list` asks, making `running` a coin toss; this one is idle for 20 s after each run.
 */
function sparseSeconds(): string {
  const first = new Date(Date.now() + 5000).getUTCSeconds();
  return [first, first + 20, first + 40]
    .map((s) => s % 60)
    .sort((a, b) => a - b)
    .join(',');
}

describe('schedd start (detached): lifecycle', { concurrency: true }, () => {
  it('start, status, list, run, reload, stop: the life of a detached daemon through the CLI', async (t) => {
    const s = instance(t);
    const seconds = sparseSeconds();
    const crontab = (tick: string, extra = ''): string =>
      `# schedd: name=tick\n${seconds} * * * * * ${tick}\n# schedd: name=manual\n0 0 1 1 * echo "manual $SCHEDD_RUN_ID" >> manual-ledger\n${extra}`;
    s.write('crontab', crontab('echo "tick $SCHEDD_RUN_ID"'));

    // start
    const beforeStart = Date.now();
    const pid = await s.started();
    const afterStart = Date.now();
    assert.equal(s.read('state/schedd.pid'), `${pid}\n`);

    // status
    const status = await s.status();
    const { schedulerPid } = status;
    assert.deepEqual(status, {
      pid,
      schedulerPid,
      startedAt: status.startedAt,
      crontab: s.crontabPath,
      sources: [{ id: '', path: s.crontabPath, jobs: 2 }],
      stateDir: s.stateDir,
      jobs: 2,
      running: [],
      restarts: 0,
      lastReload: { at: status.lastReload?.at, ok: true, errors: [] },
      unsupervisedSince: null,
      lastFailures: [],
      logRecordsDropped: 0,
    });
    assert.notEqual(schedulerPid, pid);
    assert.equal(procStat(schedulerPid).ppid, pid, "the scheduler is the watchdog's child");
    const startedAt = Date.parse(status.startedAt);
    assert.ok(beforeStart <= startedAt && startedAt <= afterStart, `startedAt ${status.startedAt} outside the start command`);
    const loadedAt = Date.parse(status.lastReload!.at);
    assert.ok(startedAt <= loadedAt && loadedAt <= afterStart, `lastReload.at ${status.lastReload!.at}`);

    // list --json after the per-second job ran
    const tickStart = await s.waitForLog({ msg: 'job started', job: 'tick' }, { timeoutMs: 25_000 });
    const tickEnd = await s.waitForLog({ msg: 'job finished', run: tickStart.record.run }, { from: tickStart.index });
    assert.deepEqual(s.all({ msg: 'job output', run: tickStart.record.run }).map((r) => r.line), [`tick ${tickStart.record.run}`]);
    const list = await s.cli(['list', '--json', '--state-dir', s.stateDir, '-c', s.crontabPath]);
    assert.equal(list.stderr, '');
    assert.equal(list.code, 0);
    const scheduledAt = Date.parse(tickStart.record.scheduledAt!);
    const tickStartedAt = scheduledAt + tickStart.record.lateMs!;
    assert.deepEqual(JSON.parse(list.stdout) as JobView[], [
      {
        id: 'tick',
        line: 2,
        schedule: `${seconds} * * * * *`,
        command: 'echo "tick $SCHEDD_RUN_ID"',
        input: null,
        next: isoSeconds(scheduledAt + 20_000),
        zone: 'UTC',
        running: false,
        lastRun: {
          startedAt: new Date(tickStartedAt).toISOString(),
          finishedAt: new Date(tickStartedAt + tickEnd.record.durationMs!).toISOString(),
          exitCode: 0,
          signal: null,
          outcome: 'ok',
        },
      },
      {
        id: 'manual',
        line: 4,
        schedule: '0 0 1 1 *',
        command: 'echo "manual $SCHEDD_RUN_ID" >> manual-ledger',
        input: null,
        next: `${new Date().getUTCFullYear() + 1}-01-01T00:00:00+00:00`,
        zone: 'UTC',
        running: false,
        lastRun: null,
      },
    ]);
    // Another crontab than the daemon's: no run state, which would belong to other jobs.
    s.write('other', '# schedd: name=other\n0 0 1 1 * true\n');
    const otherList = await s.cli(['list', '--json', '--state-dir', s.stateDir, '-c', s.path('other')]);
    assert.deepEqual(JSON.parse(otherList.stdout), [
      { id: 'other', line: 2, schedule: '0 0 1 1 *', command: 'true', input: null, next: `${new Date().getUTCFullYear() + 1}-01-01T00:00:00+00:00`, zone: 'UTC' },
    ]);

    // No -c: the running daemon's crontab, not the default one (which does not exist here).
    const bare = await s.cli(['list', '--json', '--state-dir', s.stateDir]);
    const jobsOf = (stdout: string) => (JSON.parse(stdout) as { id: string; command: string; lastRun?: unknown }[]).map((job) => [job.id, job.command, 'lastRun' in job]);
    assert.deepEqual(jobsOf(bare.stdout), jobsOf(list.stdout));
    assert.deepEqual(jobsOf(bare.stdout).map(([id]) => id), ['tick', 'manual']);

    // run JOB
    const run = await s.cli(['run', 'manual', '--state-dir', s.stateDir]);
    const runId = run.stdout.trim();
    assert.match(runId, /^[0-9a-z]{10,}$/);
    assert.deepEqual(run, { code: 0, signal: null, stdout: `${runId}\n`, stderr: '' });
    const requested = await s.waitForLog({ msg: 'run requested', job: 'manual', reason: 'schedd run' });
    const manualStart = await s.waitForLog({ msg: 'job started', run: runId }, { from: requested.index });
    assert.equal(manualStart.record.job, 'manual');
    const manualEnd = await s.waitForLog({ msg: 'job finished', run: runId }, { from: manualStart.index });
    assert.deepEqual(pick(manualEnd.record, ['job', 'outcome', 'exitCode', 'signal']), { job: 'manual', outcome: 'ok', exitCode: 0, signal: null });
    assert.equal(s.read('manual-ledger'), `manual ${runId}\n`);
    assert.deepEqual(await s.cli(['run', 'nope', '--state-dir', s.stateDir]), { code: 1, signal: null, stdout: '', stderr: "schedd: no job 'nope' (see schedd list)\n" });

    // reload after a rename-over edit: the daemon's file watch applies the save by itself (the
    // record below), so `schedd reload` afterwards finds the file already in force.
    const beforeEdit = s.records().length;
    s.replace('crontab', crontab('echo "tock $SCHEDD_RUN_ID"', '# schedd: name=extra\n0 0 1 1 * true\n'));
    const reloaded = await s.waitForLog({ msg: 'crontab reloaded' }, { from: beforeEdit });
    assert.deepEqual(pick(reloaded.record, ['reason', 'added', 'changed', 'removed', 'unchanged', 'jobs']), {
      reason: 'file changed',
      added: ['extra'],
      changed: ['tick'],
      removed: [],
      unchanged: 1,
      jobs: 3,
    });
    // Issue 11 item 20: the reply says what the watcher's reload changed, and when.
    const again = await s.cli(['reload', '--state-dir', s.stateDir]);
    assert.deepEqual({ ...again, stdout: '' }, { code: 0, signal: null, stdout: '', stderr: '' });
    assert.match(again.stdout, /^crontab already applied by the reload at \d\d:\d\d:\d\d \(file changed\): added 1 \(extra\), changed 1 \(tick\), removed 0\n$/);
    await s.waitForLog({ msg: 'crontab unchanged', reason: 'schedd reload' }, { from: reloaded.index });
    const reloadedStatus = await s.status();
    assert.deepEqual([reloadedStatus.jobs, reloadedStatus.lastReload?.ok, reloadedStatus.schedulerPid], [3, true, schedulerPid]);

    // stop
    assert.deepEqual(await s.stop(), { code: 0, signal: null, stdout: `stopping schedd (pid ${pid})...\nstopped\n`, stderr: '' });
    assert.equal(existsSync(s.pidfilePath), false, 'pidfile left behind');
    assert.equal(existsSync(s.socketPath), false, 'socket left behind');
    assert.ok(hasExited(pid), `watchdog ${pid} still running after stop returned`);
    assert.ok(hasExited(schedulerPid), `scheduler ${schedulerPid} still running after stop returned`);
    await waitUntil('the jobs of the daemon to be gone', () => s.processes().length === 0, 5000).catch(() => undefined);
    assert.deepEqual(s.processes(), []);
    assert.deepEqual(
      s.records().slice(-2).map((r) => pick(r, ['msg', 'reason', 'running'])),
      [{ msg: 'stopping', reason: 'SIGTERM', running: 0 }, { msg: 'schedd stopped' }],
    );
    assert.deepEqual(s.all((r) => r.level >= 50), [], 'errors in the log');
    assertNotRunning(await s.cli(['status', '--state-dir', s.stateDir]), s.stateDir);
  });

  it('refuses a second start for the same state directory, naming the running pid, and leaves the first alone', async (t) => {
    const s = instance(t);
    s.write('crontab', '# schedd: name=yearly\n0 0 1 1 * true\n');
    const pid = await s.started();
    const { schedulerPid } = await s.status();
    const refusal = { code: 1, signal: null, stdout: '', stderr: `schedd: already running (pid ${pid}) with state directory ${s.stateDir}\n` };
    assert.deepEqual(await s.start(), refusal);
    // Another crontab, and the state directory given relative to the working directory: still this instance.
    s.write('other', '# schedd: name=other\n* * * * * * true\n');
    assert.deepEqual(await s.cli(['start', '-c', 'other', '--state-dir', 'state']), refusal);

    const status = await s.status();
    assert.deepEqual([status.pid, status.schedulerPid, status.crontab, status.restarts], [pid, schedulerPid, s.crontabPath, 0]);
    assert.equal(s.pidfile(), pid);
    const expected = [pid, schedulerPid].sort((a, b) => a - b);
    await waitUntil('the refused watchdogs to exit', () => JSON.stringify(s.processes()) === JSON.stringify(expected), 5000).catch(() => undefined);
    assert.deepEqual(s.processes(), expected);
    assert.equal(s.all({ msg: 'schedd started' }).length, 1);
    assert.deepEqual(await s.stop(), { code: 0, signal: null, stdout: `stopping schedd (pid ${pid})...\nstopped\n`, stderr: '' });
  });

  it('with no daemon: status exits 3, stop exits 0 saying "not running", reload and run exit 3', async (t) => {
    const s = instance(t);
    assertNotRunning(await s.cli(['status', '--state-dir', s.stateDir]), s.stateDir);
    assert.deepEqual(await s.cli(['status', '--json', '--state-dir', s.stateDir]), {
      code: 3,
      signal: null,
      stdout: `${JSON.stringify({ notRunning: true, stateDir: s.stateDir, lastSeen: null })}\n`,
      stderr: '',
    });
    assert.deepEqual(await s.stop(), { code: 0, signal: null, stdout: 'not running\n', stderr: '' });
    for (const args of [['reload'], ['run', 'anything']]) {
      assert.deepEqual(await s.cli([...args, '--state-dir', s.stateDir]), { code: 3, signal: null, stdout: '', stderr: 'schedd: not running\n' }, args[0]);
    }
    assert.equal(existsSync(s.stateDir), false, 'asking about a daemon created its state directory');
  });

  it('a bad crontab at start: exit 1 with every error located, no process left, nothing run', async (t) => {
    const s = instance(t);
    s.write('crontab', '# schedd: name=ok\n* * * * * * touch ran\n61 * * * * * echo bad\n# schedd: overlap=sometimes\n* * * * * * echo other\n');
    const file = s.crontabPath;
    const errors = [`${file}:3:1: invalid second '61' (expected 0-59)`, `${file}:4:19: invalid overlap 'sometimes' (expected skip|allow|queue|replace)`];
    assert.deepEqual(await s.start(), { code: 1, signal: null, stdout: '', stderr: `schedd: ${errors.join('\n')}\n${file}: invalid, schedd did not start\n` });
    // `start` returns on the daemon's word; the two processes exit right after saying it.
    await waitUntil('the watchdog and the scheduler to exit', () => s.processes().length === 0, 5000).catch(() => undefined);
    assert.deepEqual(s.processes(), []);
    assert.equal(existsSync(s.pidfilePath), false, 'pidfile left behind');
    assert.equal(existsSync(s.socketPath), false, 'socket left behind');
    assert.equal(existsSync(s.path('ran')), false, 'a job ran');
    assert.deepEqual(
      s.records().map((r) => pick(r, ['level', 'msg'])),
      [{ level: 60, msg: `scheduler failed: ${errors.join('\n')}\n${file}: invalid, schedd did not start` }],
    );
    assert.equal((await s.cli(['status', '--state-dir', s.stateDir])).code, 3);
  });

  // Found while writing these tests, fixed in 6aa4521. The foreground daemon, `check` and `list`
  // name the crontab as the user gave it (crontab:3:1, the format README and STYLE show); the
  // detached scheduler was passed only the absolute path (serviceArgs dropped crontabName), so
  // the same mistake was reported as /tmp/.../crontab:3:1.
  it('regression: a detached start reported crontab errors under the absolute path instead of the name given with -c', async (t) => {
    const s = instance(t);
    s.write('crontab', '61 * * * * * echo bad\n');
    assert.deepEqual(await s.cli(['start', '-c', 'crontab', '--state-dir', 'state']), {
      code: 1,
      signal: null,
      stdout: '',
      stderr: "schedd: crontab:1:1: invalid second '61' (expected 0-59)\ncrontab: invalid, schedd did not start\n",
    });
  });
});
