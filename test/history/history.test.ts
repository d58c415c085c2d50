// The run history through the real CLI: `schedd start --foreground` with real jobs, then
// `schedd history --json` and `schedd output`. Lost runs after kill -9, missed slots and
// catch-up after a downtime, interrupted runs at stop, the table and the output printed.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { stableJitterMs } from '../../src/dispatch/job-env.js';
import type { RunRecord } from '../../src/store/types.js';
import { fixture as daemonFixture, hasExited, killAllDaemons, maxConcurrent, workspace, Workspace, type DaemonProcess, type LogRecord } from '../helpers/daemon.js';
import {
  assertJson,
  cli,
  fixture,
  history,
  holes,
  iso,
  killGroup,
  pollFor,
  readHistory,
  readRun,
  readState,
  record,
  SECOND,
  secondAfter,
  secondAtOrBefore,
  seconds,
  slot,
  waitUntilTime,
} from './helpers.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

const LEDGER = 'echo "$SCHEDD_SCHEDULED_AT" >> ';
const SKIPPED = 'previous run still active (overlap=skip)';

/** kill(pid, 0) answers: the process exists, a zombie included. */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function unique<T>(values: readonly T[]): boolean {
  return new Set(values).size === values.length;
}

/** The records of one job with one message (default: its starts), in log order. */
function runsOf(daemon: DaemonProcess, job: string, msg = 'job started'): LogRecord[] {
  return daemon.all({ msg, job });
}

describe('run history: a daemon killed during a run', { concurrency: true }, () => {
  it('kill -9: the run is recorded lost (its process still running), its slot never runs again, the next slots fire', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', `# schedd: name=slow\n*/3 * * * * * ${LEDGER}ledger; sleep 5\n`);
    const first = ws.start();
    const started = await first.waitFor({ msg: 'job started', job: 'slow' });
    // The claim commits before the process starts; the start (pid) at the end of that turn. Kill
    // once it is committed, so the record says which process was left behind.
    const startedAt = iso(slot(started) + started.lateMs!);
    const inFlight = record({ runId: started.run!, job: 'slow', scheduledAt: started.scheduledAt!, startedAt, outcome: 'running', pid: started.pid! });
    await waitUntil('the start of the run to be committed', async () => JSON.stringify(await readRun(ws, started.run!)) === JSON.stringify(inFlight), 5000);
    first.signal('SIGKILL');
    await first.waitExit();
    const orphan = started.pid!;
    t.after(() => killGroup(orphan));
    assert.equal(hasExited(orphan), false, 'the job outlives the killed daemon');
    assertJson((await history(ws, 'slow')).find((r) => r.runId === started.run), inFlight);

    const second = ws.start({ args: ['--stop-grace', '1s', '--kill-grace', '1s'] });
    const lost = await second.waitFor({ msg: 'run lost: schedd died while it was in flight' });
    assert.deepEqual(
      { job: lost.job, run: lost.run, pid: lost.pid, scheduledAt: lost.scheduledAt, reason: lost.reason },
      { job: 'slow', run: started.run, pid: orphan, scheduledAt: started.scheduledAt, reason: 'still running' },
    );
    const next = await second.waitForCount({ msg: 'job started', job: 'slow' }, 2, 20_000);
    assert.ok(
      next.every((r) => slot(r) > slot(started)),
      `the second daemon ran ${next.map((r) => r.scheduledAt).join(', ')}, the lost slot was ${started.scheduledAt}`,
    );
    assert.equal(await second.stop(), 0);

    const runs = await history(ws, 'slow');
    const lostRecord = runs.find((r) => r.runId === started.run)!;
    assertJson(
      lostRecord,
      record({
        runId: started.run!,
        job: 'slow',
        scheduledAt: started.scheduledAt!,
        startedAt,
        finishedAt: lostRecord.finishedAt!,
        outcome: 'lost',
        reason: `schedd died while this ran; its process ${orphan} is still running (not started again)`,
        pid: orphan,
      }),
    );
    assert.ok(Date.parse(lostRecord.finishedAt!) <= Date.parse(lost.time), 'marked lost at the second start');
    // Each slot once: in the history, and in the ledger the job itself wrote.
    const ledger = ws.lines('ledger');
    assert.ok(unique(runs.map((r) => r.scheduledAt)), `a slot recorded twice: ${runs.map((r) => `${r.scheduledAt} ${r.outcome}`).join(', ')}`);
    assert.ok(unique(ledger), `a slot ran twice: ${ledger.join(', ')}`);
    assert.deepEqual(ledger, runs.filter((r) => r.startedAt !== null).map((r) => r.scheduledAt));
    assert.deepEqual(ledger.slice(0, 3), [started.scheduledAt, ...next.map((r) => r.scheduledAt)]);
    // Every */3 slot from the lost one on is accounted for: ran, skipped (overlap) or missed.
    assert.deepEqual(holes(runs.map(slot).filter((at) => at >= slot(started))).filter((at) => Date.parse(at) % 3000 === 0), []);
    await killGroup(orphan);
  });

  it('kill -9: a run whose process has gone since, and one still waiting out its jitter, are lost with the reason', async (t) => {
    const ws = workspace(t);
    let waiter = '';
    for (let n = 0; waiter === ''; n++) if (stableJitterMs(`wait${n}`, hostname(), 30_000) >= 10_000) waiter = `wait${n}`;
    ws.write('crontab', `# schedd: name=gone\n* * * * * * exec sleep 30\n# schedd: name=${waiter} jitter=30s\n* * * * * * touch ran-$SCHEDD_RUN_ID\n`);
    const first = ws.start();
    const started = await first.waitFor({ msg: 'job started', job: 'gone' });
    // The waiting run is claimed once a later slot of its job is skipped.
    const skip = await first.waitFor({ msg: 'job skipped: previous run still active', job: waiter });
    const waiting = (await pollFor('the waiting run to be committed', async () => {
      const runs = await readHistory(ws, waiter);
      return runs.find((r) => r.outcome === 'running' && slot(r) < slot(skip));
    }))!;
    await waitUntil('the start of the run to be committed', async () => (await readRun(ws, started.run!))?.pid === started.pid, 5000);
    first.signal('SIGKILL');
    await first.waitExit();
    await killGroup(started.pid!);
    // Orphaned, the job is reaped by PID 1, which may take a moment: until then it is a zombie
    // and answers kill(pid, 0) as if it still ran.
    await waitUntil(`process ${started.pid} to be reaped`, () => !pidExists(started.pid!), 10_000);

    // A short stop grace: a slot of `gone` (a 30 s sleep) may start just before the stop, and the
    // default grace of 30 s would outlast the stop's wait (seen in CI on a loaded machine).
    const second = ws.start({ args: ['--stop-grace', '1s', '--kill-grace', '1s'] });
    const lost = await second.waitForCount({ msg: 'run lost: schedd died while it was in flight' }, 2);
    assert.deepEqual(
      lost.map((r) => [r.job, r.run, r.pid, r.reason]).sort(),
      [
        ['gone', started.run, started.pid, 'gone'],
        [waiter, waiting.runId, null, 'gone'],
      ].sort(),
    );
    assert.equal(await second.stop(), 0);
    assertJson(
      (await history(ws, 'gone')).find((r) => r.runId === started.run),
      record({
        runId: started.run!,
        job: 'gone',
        scheduledAt: started.scheduledAt!,
        startedAt: iso(slot(started) + started.lateMs!),
        finishedAt: (await readRun(ws, started.run!))!.finishedAt!,
        outcome: 'lost',
        reason: `schedd died while this ran; its process ${started.pid} is gone`,
        pid: started.pid!,
      }),
    );
    assertJson(
      (await history(ws, waiter)).find((r) => r.runId === waiting.runId),
      record({ runId: waiting.runId, job: waiter, scheduledAt: waiting.scheduledAt, finishedAt: (await readRun(ws, waiting.runId))!.finishedAt!, outcome: 'lost', reason: 'schedd stopped before this run started' }),
    );
    assert.deepEqual(ws.lines('ledger'), []);
  });
});

/**
 * One downtime, three jobs: catchup=none (missed recorded), once (the latest missed slot runs),
 * all (every missed slot runs, in order, one after another).
 */
describe('run history: slots missed while schedd was down', () => {
  const ws = new Workspace();
  after(() => ws.cleanup());
  let first: DaemonProcess;
  let second: DaemonProcess;
  /** Each job's first slot after the previous daemon's last sign of life. */
  const firstGap = new Map<string, number>();
  /** The second daemon started at an instant between these two. */
  let spawnedAt = 0;
  let startedLog = 0;
  const runs = new Map<string, RunRecord[]>();

  before(async () => {
    ws.write(
      'crontab',
      [
        '# schedd: name=tick',
        `* * * * * * ${LEDGER}tick.ledger`,
        '# schedd: name=once catchup=once',
        `* * * * * * ${LEDGER}once.ledger`,
        '# schedd: name=all catchup=all',
        `* * * * * * ${LEDGER}all.ledger; sleep 0.3`,
        '',
      ].join('\n'),
    );
    first = ws.start();
    for (const job of ['tick', 'once', 'all']) await first.waitForCount({ msg: 'job finished', job }, 2);
    assert.equal(await first.stop(), 0);
    const stopped = first.all({ msg: 'schedd stopped' })[0]!;
    const state = await readState(ws);
    assert.ok(state.heartbeat <= Date.parse(stopped.time), 'the heartbeat is written at stop');
    for (const job of ['tick', 'once', 'all']) firstGap.set(job, secondAfter(Math.max(state.lastSlots.get(job)!, state.heartbeat)));

    // Down for a little over 3 s: at least three slots fall in the gap.
    await waitUntilTime(Date.parse(stopped.time) + 3200);
    spawnedAt = Date.now();
    second = ws.start();
    startedLog = Date.parse((await second.waitFor({ msg: 'schedd started' })).time);
    // Each job then runs at least two slots of its own after the start.
    for (const job of ['tick', 'once', 'all']) {
      await second.waitForCount((r) => r.msg === 'job finished' && r.job === job && second.all({ msg: 'job started', run: r.run })[0]!.lateMs! < SECOND, 2);
    }
    assert.equal(await second.stop(), 0);
    for (const job of ['tick', 'once', 'all']) runs.set(job, await history(ws, job));
  });

  /** Asserts the gap slots: from the job's first gap slot to `last`, with last in the possible range. */
  function assertGap(job: string, gap: readonly number[]): void {
    const last = gap.at(-1)!;
    assert.ok(gap.length >= 3, `${job}: only ${gap.length} slots in a 3 s downtime`);
    assert.deepEqual(gap, seconds(firstGap.get(job)!, last), `${job}: the gap slots`);
    assert.ok(last >= secondAtOrBefore(spawnedAt), `${job}: slot ${iso(secondAtOrBefore(spawnedAt))} came before the second daemon was spawned, yet is not in the gap`);
    assert.ok(last <= startedLog, `${job}: ${iso(last)} came after the second daemon started`);
  }

  it('catchup=none: exactly the slots in the gap are recorded missed, none runs, the next slot fires', () => {
    const tick = runs.get('tick')!;
    const missed = tick.filter((r) => r.outcome === 'missed');
    assert.deepEqual(
      missed,
      missed.map((r) => record({ runId: r.runId, job: 'tick', scheduledAt: r.scheduledAt, outcome: 'missed', reason: 'schedd was not running' })),
    );
    assertGap('tick', missed.map(slot));
    const last = slot(missed.at(-1)!);
    const summary = second.all({ msg: `missed ${missed.length} slots while schedd was not running`, job: 'tick' });
    assert.deepEqual(
      summary.map((r) => [r.count, r.scheduledAt]),
      [[missed.length, missed[0]!.scheduledAt]],
    );
    // The second daemon's first run is the slot right after the gap; no missed slot ran.
    assert.equal(runsOf(second, 'tick')[0]!.scheduledAt, iso(last + SECOND));
    const ledger = ws.lines('tick.ledger');
    assert.ok(unique(ledger));
    assert.deepEqual(ledger.filter((at) => missed.some((r) => r.scheduledAt === at)), []);
    assert.deepEqual(ledger, tick.filter((r) => r.outcome === 'ok').map((r) => r.scheduledAt));
  });

  it('catchup=once: only the latest missed slot runs (SCHEDD_SCHEDULED_AT is that slot), the others are recorded missed', () => {
    const once = runs.get('once')!;
    const catchUp = runsOf(second, 'once')[0]!;
    const missed = once.filter((r) => r.outcome === 'missed');
    assertGap('once', [...missed.map(slot), slot(catchUp)]);
    assert.ok(catchUp.lateMs! > 0);
    assert.deepEqual(
      missed.map((r) => r.reason),
      missed.map(() => 'schedd was not running'),
    );
    assert.deepEqual(
      second.all({ job: 'once', msg: `missed ${missed.length + 1} slots while schedd was not running; catching up 1 (catchup=once)` }).map((r) => r.count),
      [missed.length + 1],
    );
    const record = once.find((r) => r.runId === catchUp.run)!;
    assert.deepEqual([record.scheduledAt, record.outcome], [catchUp.scheduledAt, 'ok']);
    // The job saw the slot it stands for.
    const ledger = ws.lines('once.ledger');
    assert.ok(unique(ledger));
    assert.equal(ledger.filter((at) => at === catchUp.scheduledAt).length, 1);
    assert.deepEqual(ledger.filter((at) => missed.some((r) => r.scheduledAt === at)), []);
    // From the gap on, every slot is recorded once: missed, the catch-up, then the new daemon's.
    const fromGap = once.filter((r) => slot(r) >= firstGap.get('once')!);
    assert.ok(unique(fromGap.map((r) => r.scheduledAt)));
    assert.deepEqual(holes(fromGap.map(slot).sort((a, b) => a - b)), []);
  });

  it('catchup=all: every missed slot runs, oldest first, one after another; none is recorded missed', () => {
    const all = runs.get('all')!;
    assert.deepEqual(all.filter((r) => r.outcome === 'missed'), []);
    const summary = second.all((r) => r.job === 'all' && r.msg.startsWith('missed '));
    assert.equal(summary.length, 1);
    const count = summary[0]!.count!;
    assert.equal(summary[0]!.msg, `missed ${count} slots while schedd was not running; catching up ${count} (catchup=all)`);
    const started = runsOf(second, 'all');
    const catchUp = started.slice(0, count);
    assertGap('all', catchUp.map(slot));
    // One after another: each catch-up run starts after the previous one ended.
    assert.equal(maxConcurrent(second.records, { job: 'all' }), 1);
    for (let i = 1; i < catchUp.length; i++) {
      const previousEnd = second.all({ msg: 'job finished', run: catchUp[i - 1]!.run })[0]!;
      assert.ok(second.indexOf(catchUp[i]!) > second.indexOf(previousEnd), `catch-up run ${i} started before run ${i - 1} finished`);
    }
    const ledger = ws.lines('all.ledger');
    const firstOfSecond = ledger.indexOf(catchUp[0]!.scheduledAt!);
    assert.deepEqual(ledger.slice(firstOfSecond, firstOfSecond + count), catchUp.map((r) => r.scheduledAt));
    assert.ok(unique(ledger));
    // Slots that came while the catch-up ran were skipped (overlap=skip), each recorded once.
    const fromGap = all.filter((r) => slot(r) >= firstGap.get('all')!);
    assert.ok(unique(fromGap.map((r) => r.scheduledAt)));
    assert.deepEqual(holes(fromGap.map(slot).sort((a, b) => a - b)), []);
    assert.deepEqual([...new Set(fromGap.map((r) => r.outcome))].sort(), fromGap.some((r) => r.outcome === 'skipped') ? ['ok', 'skipped'] : ['ok']);
  });
});

describe('run history: stopping', { concurrency: true }, () => {
  it('a job still running when --stop-grace runs out is recorded interrupted, its skipped slots too', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=long\n* * * * * * exec sleep 30\n');
    const daemon = ws.start({ args: ['--stop-grace', '1s', '--kill-grace', '1s'] });
    const started = await daemon.waitFor({ msg: 'job started', job: 'long' });
    await daemon.waitFor({ msg: 'job skipped: previous run still active', job: 'long' });
    assert.equal(await daemon.stop(), 0);
    assert.ok(hasExited(started.pid!));

    const runs = await history(ws, 'long');
    const run = runs[0]!;
    const startedAt = slot(started) + started.lateMs!;
    assertJson(
      run,
      record({
        runId: started.run!,
        job: 'long',
        scheduledAt: started.scheduledAt!,
        startedAt: iso(startedAt),
        finishedAt: iso(startedAt + run.durationMs!),
        outcome: 'interrupted',
        signal: 'SIGTERM',
        durationMs: run.durationMs!,
        reason: 'schedd is stopping',
        pid: started.pid!,
      }),
    );
    const stopping = daemon.all((r) => r.msg.startsWith('stopping'))[0]!;
    assert.ok(Date.parse(run.finishedAt!) >= Date.parse(stopping.time) + 1000, 'stopped after the 1 s grace');
    const skipped = runs.slice(1);
    assert.ok(skipped.length >= 1);
    assert.deepEqual(
      skipped,
      skipped.map((r) => record({ runId: r.runId, job: 'long', scheduledAt: r.scheduledAt, outcome: 'skipped', reason: SKIPPED })),
    );
    assert.deepEqual(holes(runs.map(slot)), []);
  });

  it('a run still waiting out its jitter at stop is recorded interrupted, never started', async (t) => {
    const ws = workspace(t);
    // A job name whose stable jitter on this host is at least 5 s of the 20 s allowed.
    let name = '';
    for (let n = 0; name === ''; n++) if (stableJitterMs(`jit${n}`, hostname(), 20_000) >= 5000) name = `jit${n}`;
    ws.write('crontab', `# schedd: name=${name} jitter=20s\n* * * * * * touch ran-$SCHEDD_RUN_ID\n`);
    const daemon = ws.start();
    const skip = await daemon.waitFor({ msg: 'job skipped: previous run still active', job: name });
    assert.equal(await daemon.stop(), 0);
    const cancelled = daemon.all({ msg: 'job run cancelled', job: name });
    assert.deepEqual(
      cancelled.map((r) => r.reason),
      ['schedd is stopping'],
    );
    const runs = await history(ws, name);
    const run = runs[0]!;
    assertJson(run, record({ runId: cancelled[0]!.run!, job: name, scheduledAt: iso(slot(skip) - SECOND), finishedAt: run.finishedAt!, outcome: 'interrupted', reason: 'schedd is stopping' }));
    // Cancelled as the stop begins, just before it is logged.
    const stopping = Date.parse(daemon.all((r) => r.msg.startsWith('stopping'))[0]!.time);
    assert.ok(Date.parse(run.finishedAt!) > Date.parse(skip.time) && Date.parse(run.finishedAt!) <= stopping, `finished ${run.finishedAt}`);
    assert.deepEqual(ws.lines('ledger'), []);
    assert.deepEqual(
      runs.slice(1).map((r) => [r.outcome, r.reason]),
      runs.slice(1).map(() => ['skipped', SKIPPED]),
    );
  });

  it('regression: slots that come while schedd is stopping (waiting for a running job) are neither run, caught up nor recorded', async (t) => {
    // The heartbeat written at the end of stop() counts as a sign of life, so at the next start
    // findMissed begins after it: the slots between scheduler.stop() and that heartbeat vanish,
    // even with catchup=all. Here `hold` keeps the stop waiting about 2.5 s.
    const ws = workspace(t);
    ws.write('crontab', `# schedd: name=hold\n* * * * * * sleep 2.5\n# schedd: name=tick catchup=all\n* * * * * * ${LEDGER}ledger\n`);
    const first = ws.start();
    await first.waitForCount({ msg: 'job finished', job: 'tick' }, 1);
    const from = first.records.length;
    await first.waitFor({ msg: 'job started', job: 'hold' }, 15_000, from);
    assert.equal(await first.stop(), 0);
    const stopping = first.all((r) => r.msg.startsWith('stopping'))[0]!;
    const stopped = first.all({ msg: 'schedd stopped' })[0]!;
    const second = ws.start({ args: ['--stop-grace', '1s', '--kill-grace', '1s'] });
    const startedAt = Date.parse((await second.waitFor({ msg: 'schedd started' })).time);
    await second.waitForCount((r) => r.msg === 'job finished' && r.job === 'tick' && slot(second.all({ msg: 'job started', run: r.run })[0]!) > startedAt, 1);
    assert.equal(await second.stop(), 0);

    const ran = ws.lines('ledger').map((at) => Date.parse(at));
    const recorded = (await history(ws, 'tick')).map(slot);
    const accounted = [...new Set([...ran, ...recorded])].sort((a, b) => a - b);
    assert.deepEqual(holes(accounted), [], `stopping began ${stopping.time}, stopped ${stopped.time}`);
  });
});

describe('run history: the CLI', { concurrency: true }, () => {
  it('history --limit 3 prints a table of the newest runs; output prints a run\'s exact output, the latest or --run ID', async (t) => {
    const ws = workspace(t);
    ws.write(
      'crontab',
      [
        // No mail due: the table has no MAIL column then (test/mail/ covers it).
        'MAILTO=""',
        '# schedd: name=flaky',
        // `\%`: a bare % would end the command (cron's stdin rule).
        `* * * * * * printf 'out \\%s\\nline two\\n' "$SCHEDD_SCHEDULED_AT"; exit 3`,
        '# schedd: name=slow',
        '* * * * * * sleep 1.5',
        '',
      ].join('\n'),
    );
    assert.deepEqual(await cli(ws, ['history']), { code: 0, signal: null, stdout: `no run history yet (${ws.path('state')}/history.db)\n`, stderr: '' });
    const daemon = ws.start();
    await daemon.waitForCount({ msg: 'job failed', job: 'flaky' }, 3);
    await daemon.waitFor({ msg: 'job skipped: previous run still active', job: 'slow' });
    assert.equal(await daemon.stop(), 0);

    // The table, checked against the JSON of the same three records.
    const newest = (await history(ws, undefined, 3)).reverse();
    assert.equal(newest.length, 3);
    const table = await cli(ws, ['history', '--limit', '3']);
    const describe = (run: RunRecord): string => (run.outcome === 'failed' ? `failed (exit ${run.exitCode})` : run.outcome);
    const time = (at: string): string => at.slice(11, 19);
    const rows = [
      ['RUN', 'JOB', 'SCHEDULED', 'STARTED', 'DURATION', 'OUTCOME', 'REASON'],
      ...newest.map((run) => [
        run.runId,
        run.job,
        `${run.scheduledAt.slice(0, 10)} ${time(run.scheduledAt)}`,
        run.startedAt === null ? '-' : time(run.startedAt),
        run.durationMs === null ? '-' : `${(run.durationMs / 1000).toFixed(1)}s`,
        describe(run),
        run.reason ?? '',
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    const expected = rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
    assert.deepEqual(table, { code: 0, signal: null, stdout: `${expected}\n`, stderr: '' });
    assert.deepEqual(
      (await cli(ws, ['history', 'flaky', '--limit', '2'])).stdout.split('\n').map((line) => line.split(/\s+/)[1]),
      ['JOB', 'flaky', 'flaky', undefined],
    );

    // output: the latest run with output, exactly as the job printed it.
    const flaky = (await history(ws, 'flaky')).filter((r) => r.outcome === 'failed');
    const latest = flaky.at(-1)!;
    const older = flaky[0]!;
    const printed = (run: RunRecord): string => `out ${run.scheduledAt}\nline two\n`;
    assert.deepEqual(await cli(ws, ['output', 'flaky']), {
      code: 0,
      signal: null,
      stdout: printed(latest),
      stderr: `# flaky run ${latest.runId}, failed (exit 3), ${printed(latest).length} bytes of output\n`,
    });
    assert.deepEqual(await cli(ws, ['output', 'flaky', '--run', older.runId]), {
      code: 0,
      signal: null,
      stdout: printed(older),
      stderr: `# flaky run ${older.runId}, failed (exit 3), ${printed(older).length} bytes of output\n`,
    });
    assert.notEqual(printed(older), printed(latest));
  });

  it('regression (issue 11 item 20): a retried run shows its failed attempts in history, the table and --json alike, each with its output', async (t) => {
    const ws = workspace(t);
    // Fails twice, then succeeds; the slot is a yearly one, so the only runs are `schedd run`'s.
    ws.write('crontab', `MAILTO=""\n# schedd: name=flaky retries=2\n0 0 1 1 * ${daemonFixture('fail-until.sh')} ${ws.path('counter')} 3\n`);
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'schedd started' });
    assert.equal((await cli(ws, ['run', 'flaky'])).code, 0);
    const done = await daemon.waitFor({ msg: 'job finished', job: 'flaky' }, 25_000);
    assert.equal(await daemon.stop(), 0);
    const runs = await history(ws, 'flaky');
    const id = done.run!;
    assert.deepEqual(
      runs.map((r) => [r.runId, r.outcome, r.exitCode, r.attempt, r.reason, r.scheduledAt === runs[0]!.scheduledAt]),
      [
        [`${id}.1`, 'failed', 1, 1, 'attempt 1/3 failed (exit 1); retried after 1s', true],
        [`${id}.2`, 'failed', 1, 2, 'attempt 2/3 failed (exit 1); retried after 2s', true],
        [id, 'ok', 0, 3, null, true],
      ],
    );
    const table = (await cli(ws, ['history', 'flaky'])).stdout.split('\n').slice(1, 4).map((line) => line.split(/\s{2,}/));
    assert.deepEqual(table.map((cells) => [cells[0], cells[5], cells[6]]), [
      [id, 'ok (attempt 3)', ''],
      [`${id}.2`, 'failed (exit 1)', 'attempt 2/3 failed (exit 1); retried after 2s'],
      [`${id}.1`, 'failed (exit 1)', 'attempt 1/3 failed (exit 1); retried after 1s'],
    ]);
    assert.equal((await cli(ws, ['output', 'flaky', '--run', `${id}.1`])).stdout, `attempt 1 run ${id}\n`);
  });

  it('output and history of what does not exist: exit 1 with the job or run named', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=hello\n* * * * * * echo hello\n');
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'job finished', job: 'hello' });
    assert.equal(await daemon.stop(), 0);
    assert.deepEqual(await cli(ws, ['output', 'nosuch']), { code: 1, signal: null, stdout: '', stderr: "schedd: no recorded output for job 'nosuch'\n" });
    assert.deepEqual(await cli(ws, ['output', 'hello', '--run', 'nosuch']), { code: 1, signal: null, stdout: '', stderr: "schedd: no run 'nosuch' of job 'hello'\n" });
    assert.deepEqual(await cli(ws, ['history', 'nosuch']), { code: 0, signal: null, stdout: 'no runs recorded for nosuch\n', stderr: '' });
    assert.deepEqual(await cli(ws, ['history', '--limit', '0']), { code: 2, signal: null, stdout: '', stderr: "schedd: --limit '0' is invalid: expected a whole number of 1 or more (see schedd history --help)\n" });
  });

  it('output of a long run: 16 KiB of head, a marker with the bytes not kept, 16 KiB of tail', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', `MAILTO=""\n# schedd: name=big\n@reboot sh ${fixture('print-lines.sh')} 200 500\n`);
    const daemon = ws.start();
    const done = await daemon.waitFor({ msg: 'job finished', job: 'big' });
    assert.equal(await daemon.stop(), 0);
    const text = Buffer.from(linesText(200, 500));
    assert.equal(text.length, 101_400);
    const kib16 = 16 * 1024;
    const result = await cli(ws, ['output', 'big']);
    assert.deepEqual(result, {
      code: 0,
      signal: null,
      stdout: `${text.subarray(0, kib16).toString()}\n[... ${text.length - 2 * kib16} bytes not kept ...]\n${text.subarray(text.length - kib16).toString()}`,
      stderr: `# big run ${done.run}, ok, ${text.length} bytes of output (head and tail shown)\n`,
    });
  });

  it('regression: an output of 16 to 32 KiB loses its end: the runner keeps it all as head, the store keeps 16 KiB of head and no tail', async (t) => {
    // The runner's capture keeps 32 KiB of head before any tail, so a 20 KiB output arrives as
    // head only; SqliteStore clips the head to 16 KiB and the tail is empty. `schedd output` then
    // shows the first 16 KiB and nothing else, though it says "head and tail shown".
    const ws = workspace(t);
    ws.write('crontab', `# schedd: name=mid\n@reboot sh ${fixture('print-lines.sh')} 40 500\n`);
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'job finished', job: 'mid' });
    assert.equal(await daemon.stop(), 0);
    const text = linesText(40, 500);
    assert.equal(text.length, 20_280);
    const result = await cli(ws, ['output', 'mid']);
    assert.equal(result.code, 0);
    assert.ok(result.stdout.endsWith(`000040${'.'.repeat(500)}\n`), `the last line is not shown; stdout ends with ${JSON.stringify(result.stdout.slice(-40))} (${result.stdout.length} bytes), stderr ${JSON.stringify(result.stderr)}`);
  });
});

/** What print-lines.sh COUNT WIDTH prints. */
function linesText(count: number, width: number): string {
  return Array.from({ length: count }, (_, i) => `${String(i + 1).padStart(6, '0')}${'.'.repeat(width)}\n`).join('');
}
