// `schedd start --foreground` as a child process: what one job gets and how it is run.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { after, describe, it } from 'node:test';
import { fixture, hasExited, killAllDaemons, readPid, secondsBetween, workspace, type LogRecord } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

/** Output lines of one run, in order. */
function outputOf(records: readonly LogRecord[], run: string, stream: 'stdout' | 'stderr' = 'stdout'): string[] {
  return records.filter((r) => r.msg === 'job output' && r.run === run && r.stream === stream).map((r) => r.line!);
}

describe('schedd start: running jobs', { concurrency: true }, () => {
  it('fires a per-second job on consecutive whole-second slots, with SCHEDD_SCHEDULED_AT equal to scheduledAt', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=tick\n* * * * * * echo "$SCHEDD_JOB_ID $SCHEDD_RUN_ID $SCHEDD_SCHEDULED_AT"\n');
    const daemon = ws.start();
    const started = await daemon.waitFor({ msg: 'schedd started' });
    assert.equal(started.jobs, 1);
    assert.equal(started.crontab, ws.path('crontab'));
    const finished = await daemon.waitForCount({ msg: 'job finished', job: 'tick' }, 3);

    const runs = daemon.all({ msg: 'job started', job: 'tick' }).slice(0, 3);
    assert.deepEqual(runs.map((r) => r.run), finished.map((r) => r.run), 'each run finishes before the next starts');
    for (const [i, run] of runs.entries()) {
      assert.match(run.scheduledAt!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      assert.equal(run.attempt, 1);
      assert.ok(run.lateMs! >= 0 && Date.parse(run.time) >= Date.parse(run.scheduledAt!), `run started before its slot: ${JSON.stringify(run)}`);
      assert.deepEqual(outputOf(daemon.records, run.run!), [`tick ${run.run} ${run.scheduledAt}`]);
      assert.deepEqual({ ...finished[i], time: '' }, { level: 30, time: '', msg: 'job finished', job: 'tick', run: run.run, pid: run.pid, outcome: 'ok', exitCode: 0, signal: null, durationMs: finished[i]!.durationMs, attempt: 1 });
    }
    // Every slot from the first to the last is accounted for once: started, or skipped when a
    // loaded machine made a run outlast its second.
    const slots = daemon
      .all((r) => r.job === 'tick' && (r.msg === 'job started' || r.msg === 'job skipped: previous run still active'))
      .map((r) => r.scheduledAt!)
      .filter((at) => at <= runs[2]!.scheduledAt!);
    for (let i = 1; i < slots.length; i++) assert.equal(secondsBetween(slots[i - 1]!, slots[i]!), 1, `slots ${slots.join(', ')}`);
    const firstAfterStartMs = Date.parse(slots[0]!) - Date.parse(started.time);
    assert.ok(firstAfterStartMs > -100 && firstAfterStartMs <= 1000, `first slot ${slots[0]} is not the first second after ${started.time}`);
  });

  it("delivers the text after % as standard input, exactly: % is a newline, \\% a literal, a final newline added", async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=stdin\n* * * * * * cat > "stdin-$SCHEDD_RUN_ID-100\\%"%first line%  indented, trailing  %%50\\% done\n');
    const daemon = ws.start();
    const finished = await daemon.waitFor({ msg: 'job finished', job: 'stdin' });
    assert.equal(ws.read(`stdin-${finished.run}-100%`), 'first line\n  indented, trailing  \n\n50% done\n');
  });

  it('gives each entry the environment lines above it only, later lines redefining earlier ones', async (t) => {
    const ws = workspace(t);
    mkdirSync(ws.path('sub'));
    const report = 'greeting=$GREETING later=[${LATER-unset}] shell=$SHELL bash=${BASH_VERSION:+yes} inherited=$FROM_DAEMON pwd=$(pwd) id=$SCHEDD_JOB_ID';
    ws.write(
      'crontab',
      [
        'GREETING=first',
        '# schedd: name=env-a',
        `* * * * * * echo "${report}"`,
        'GREETING = second',
        "LATER='  two words  '",
        'SHELL=/bin/bash',
        `# schedd: name=env-b cwd=${ws.path('sub')}`,
        `* * * * * * echo "${report}"`,
        '',
      ].join('\n'),
    );
    // The daemon's own SHELL is not the jobs' shell, and its variables lose to the crontab's.
    const daemon = ws.start({ env: { SHELL: '/bin/bash', GREETING: 'from-daemon', FROM_DAEMON: 'yes', LATER: undefined } });
    const [a, b] = await Promise.all([daemon.waitFor({ msg: 'job finished', job: 'env-a' }), daemon.waitFor({ msg: 'job finished', job: 'env-b' })]);
    assert.deepEqual(outputOf(daemon.records, a.run!), [`greeting=first later=[unset] shell=/bin/sh bash= inherited=yes pwd=${ws.dir} id=env-a`]);
    assert.deepEqual(outputOf(daemon.records, b.run!), [`greeting=second later=[  two words  ] shell=/bin/bash bash=yes inherited=yes pwd=${ws.path('sub')} id=env-b`]);
  });

  it('with --clean-env gives jobs cron\'s minimal environment: PATH=/usr/bin:/bin, nothing of the daemon\'s', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', 'MARK=crontab\n# schedd: name=env\n* * * * * * env\n');
    const daemon = ws.start({ args: ['--clean-env'], env: { SECRET: 'leak' } });
    const finished = await daemon.waitFor({ msg: 'job finished', job: 'env' });
    const started = daemon.all({ msg: 'job started', run: finished.run })[0]!;
    const user = userInfo().username;
    assert.deepEqual(outputOf(daemon.records, finished.run!).sort(), [
      `HOME=${ws.dir}`,
      `LOGNAME=${user}`,
      'MARK=crontab',
      'PATH=/usr/bin:/bin',
      `PWD=${ws.dir}`, // exported by the shell itself
      'SCHEDD_JOB_ID=env',
      `SCHEDD_RUN_ID=${finished.run}`,
      `SCHEDD_SCHEDULED_AT=${started.scheduledAt}`,
      'SHELL=/bin/sh',
      `USER=${user}`,
    ]);
  });

  it('on timeout kills the whole process tree: SIGTERM first, SIGKILL after --kill-grace for a grandchild that traps it', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', `# schedd: name=tree timeout=1s\n* * * * * * ${fixture('term-trapping-tree.sh')} ${ws.dir}/grandchild-$SCHEDD_RUN_ID.pid\n`);
    const daemon = ws.start({ args: ['--kill-grace', '1s'] });
    const timedOut = await daemon.waitFor({ msg: 'job timed out', job: 'tree' }, 20_000);
    assert.equal(timedOut.level, 40);
    assert.equal(timedOut.outcome, 'timeout');
    assert.equal(timedOut.signal, 'SIGTERM');
    assert.equal(timedOut.exitCode, null);
    assert.equal(timedOut.reason, 'timed out after 1s; SIGKILL after 1s grace');
    assert.ok(timedOut.durationMs! >= 1950, `durationMs ${timedOut.durationMs} should cover the timeout and the grace`);
    // (stderr has the shell's 'Terminated' for the grandchild's sleep.)
    assert.deepEqual(outputOf(daemon.records, timedOut.run!), ['ready', 'grandchild got TERM']);
    const grandchild = readPid(ws.path(`grandchild-${timedOut.run}.pid`));
    await waitUntil(`grandchild ${grandchild} to be gone`, () => hasExited(grandchild), 5000);
  });

  it('reports a job whose cwd does not exist as could not start, and keeps running', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', `# schedd: name=nowhere cwd=${ws.path('missing')}\n* * * * * * true\n`);
    const daemon = ws.start();
    const [first, second] = await daemon.waitForCount({ msg: 'job could not start', job: 'nowhere' }, 2);
    assert.equal(first!.outcome, 'error');
    assert.equal(first!.reason, `cannot start: cwd ${ws.path('missing')} does not exist`);
    assert.notEqual(first!.run, second!.run);
  });

  it("regression: 'schedd started' put the daemon's own pid in the pid field, which log.ts reserves for a job's process", async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=idle\n0 0 1 1 * true\n');
    const daemon = ws.start();
    const started = await daemon.waitFor({ msg: 'schedd started' });
    // A log reader that follows a job by its pid would take this record for that job's.
    assert.equal(started.pid, undefined);
    assert.equal(started.daemonPid, daemon.pid);
  });
});
