// `schedd start --foreground`: a slot that comes while the job still runs, retries, --max-concurrent.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fixture, hasExited, killAllDaemons, maxConcurrent, secondsBetween, workspace, type LogRecord } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

/** A per-second job that records its start and end in ./ledger and runs for `seconds`. */
function slowJob(name: string, overlap: string, seconds: number): string {
  return `# schedd: name=${name} overlap=${overlap}\n* * * * * * echo "start $SCHEDD_RUN_ID $SCHEDD_SCHEDULED_AT" >> ledger; sleep ${seconds}; echo "end $SCHEDD_RUN_ID" >> ledger\n`;
}

/** Asserts the slots are consecutive seconds. */
function assertConsecutive(slots: readonly string[]): void {
  for (let i = 1; i < slots.length; i++) assert.equal(secondsBetween(slots[i - 1]!, slots[i]!), 1, `slots ${slots.join(', ')}`);
}

function between(records: readonly LogRecord[], from: LogRecord, to: LogRecord): LogRecord[] {
  return records.slice(records.indexOf(from) + 1, records.indexOf(to));
}

describe('schedd start: overlap policies, retries and --max-concurrent', { concurrency: true }, () => {
  it('overlap=skip: a 2.5 s job every second never runs twice at once; the slots in between are skipped', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', slowJob('slow', 'skip', 2.5));
    const daemon = ws.start();
    const [first, second] = (await daemon.waitForCount({ msg: 'job started', job: 'slow' }, 2, 20_000)) as [LogRecord, LogRecord];
    const inBetween = between(daemon.records, first, second).filter((r) => r.job === 'slow');
    const skipped = inBetween.filter((r) => r.msg === 'job skipped: previous run still active');
    assert.ok(skipped.length >= 2, `expected the slots during 2.5 s to be skipped, got ${skipped.length}`);
    for (const record of skipped) assert.deepEqual([record.level, record.reason], [40, 'previous run still active']);
    assertConsecutive([first.scheduledAt!, ...skipped.map((r) => r.scheduledAt!), second.scheduledAt!]);
    // Nothing else happened to the job: the first run ended before the second started.
    assert.deepEqual(inBetween.filter((r) => !skipped.includes(r)).map((r) => [r.msg, r.run]), [['job finished', first.run]]);
    assert.equal(maxConcurrent(daemon.records, { job: 'slow' }), 1);
    assert.deepEqual(ws.lines('ledger').slice(0, 2), [`start ${first.run} ${first.scheduledAt}`, `end ${first.run}`]);
  });

  it('overlap=allow: runs overlap, none is skipped', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', slowJob('overlapping', 'allow', 4));
    const daemon = ws.start();
    const runs = await daemon.waitForCount({ msg: 'job started', job: 'overlapping' }, 3, 20_000);
    assertConsecutive(runs.map((r) => r.scheduledAt!));
    assert.equal(new Set(runs.map((r) => r.run)).size, 3);
    assert.equal(maxConcurrent(daemon.records.slice(0, daemon.indexOf(runs[2]!) + 1), { job: 'overlapping' }), 3);
    assert.deepEqual(daemon.all((r) => r.job === 'overlapping' && r.msg.startsWith('job skipped')), []);
    // The jobs themselves say so: three starts before any end.
    await waitUntil('three starts in the ledger', () => ws.lines('ledger').length >= 3);
    assert.deepEqual(ws.lines('ledger').slice(0, 3), runs.map((r) => `start ${r.run} ${r.scheduledAt}`));
  });

  it('overlap=queue: one slot waits for the running job, further ones are skipped', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', slowJob('queued', 'queue', 2.5));
    const daemon = ws.start();
    const [first, second] = (await daemon.waitForCount({ msg: 'job started', job: 'queued' }, 2, 20_000)) as [LogRecord, LogRecord];
    const inBetween = between(daemon.records, first, second).filter((r) => r.job === 'queued');
    const queued = inBetween.filter((r) => r.msg === 'job queued: previous run still active');
    const skipped = inBetween.filter((r) => r.msg === 'job skipped: a run is already queued');
    assert.equal(queued.length, 1, 'at most one slot waits');
    assert.ok(skipped.length >= 1, 'the slot after the queued one is skipped');
    for (const record of skipped) assert.deepEqual([record.level, record.reason], [40, 'a run is already queued']);
    assertConsecutive([first.scheduledAt!, queued[0]!.scheduledAt!, ...skipped.map((r) => r.scheduledAt!)]);
    const firstEnd = inBetween.find((r) => r.msg === 'job finished' && r.run === first.run);
    assert.ok(firstEnd !== undefined, 'the queued run starts after the first one finished');
    assert.equal(second.scheduledAt, queued[0]!.scheduledAt, 'the queued run stands for the slot that was queued');
    assert.ok(second.lateMs! >= 1000, `lateMs ${second.lateMs}`);
    await waitUntil('the queued run in the ledger', () => ws.lines('ledger').length >= 3);
    assert.deepEqual(ws.lines('ledger').slice(0, 3), [`start ${first.run} ${first.scheduledAt}`, `end ${first.run}`, `start ${second.run} ${queued[0]!.scheduledAt}`]);
  });

  it('overlap=replace: the running job is killed, then the new run starts', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=replaced overlap=replace\n* * * * * * exec sleep 30\n');
    const daemon = ws.start({ args: ['--kill-grace', '1s'] });
    const [first, second] = (await daemon.waitForCount({ msg: 'job started', job: 'replaced' }, 2, 20_000)) as [LogRecord, LogRecord];
    const inBetween = between(daemon.records, first, second).filter((r) => r.job === 'replaced');
    assert.deepEqual(
      inBetween.map((r) => ({ msg: r.msg, run: r.run, scheduledAt: r.scheduledAt, running: r.running, outcome: r.outcome, signal: r.signal, reason: r.reason })),
      [
        { msg: 'job replacing previous run', run: undefined, scheduledAt: second.scheduledAt, running: 1, outcome: undefined, signal: undefined, reason: undefined },
        { msg: 'job killed', run: first.run, scheduledAt: undefined, running: undefined, outcome: 'killed', signal: 'SIGTERM', reason: 'replaced by a newer run' },
      ],
    );
    assert.equal(secondsBetween(first.scheduledAt!, second.scheduledAt!), 1);
    assert.ok(hasExited(first.pid!), `the replaced run's process ${first.pid} is still alive`);
  });

  it('retries a failing job with backoff 1 s, 2 s: attempts 1, 2, 3 in one run', async (t) => {
    const ws = workspace(t);
    // MAILTO="": the run's records only, no mail of its output.
    ws.write('crontab', `MAILTO=""\n# schedd: name=flaky retries=5\n* * * * * * ${fixture('fail-until.sh')} ${ws.path('counter')} 3\n`);
    const daemon = ws.start();
    const finished = await daemon.waitFor({ msg: 'job finished', job: 'flaky' }, 25_000);
    const run = daemon.all((r) => r.run === finished.run && r.msg !== 'job output');
    assert.deepEqual(
      run.map((r) => [r.msg, r.attempt, r.exitCode, r.delayMs]),
      [
        ['job started', 1, undefined, undefined],
        ['job failed', 1, 1, undefined],
        ['job retry scheduled', 2, undefined, 1000],
        ['job started', 2, undefined, undefined],
        ['job failed', 2, 1, undefined],
        ['job retry scheduled', 3, undefined, 2000],
        ['job started', 3, undefined, undefined],
        ['job finished', 3, 0, undefined],
      ],
    );
    const starts = run.filter((r) => r.msg === 'job started');
    assert.deepEqual(new Set(starts.map((r) => r.scheduledAt)).size, 1, 'every attempt stands for the same slot');
    const waitedMs = (from: LogRecord, to: LogRecord): number => Date.parse(to.time) - Date.parse(from.time);
    assert.ok(waitedMs(run[2]!, run[3]!) >= 990, `first backoff ${waitedMs(run[2]!, run[3]!)} ms`);
    assert.ok(waitedMs(run[5]!, run[6]!) >= 1990, `second backoff ${waitedMs(run[5]!, run[6]!)} ms`);
    assert.deepEqual(
      daemon.all({ msg: 'job output', run: finished.run }).map((r) => r.line),
      [1, 2, 3].map((n) => `attempt ${n} run ${finished.run}`),
    );
    // While it waited to retry the job was active, so its slots were skipped.
    const skipped = between(daemon.records, run[0]!, run[7]!).filter((r) => r.job === 'flaky' && r.msg === 'job skipped: previous run still active');
    assert.ok(skipped.length >= 2, `skipped ${skipped.length}`);
  });

  it('--max-concurrent 1: of two jobs due together one waits, then starts when the other finishes', async (t) => {
    const ws = workspace(t);
    const job = (name: string): string => `# schedd: name=${name}\n* * * * * * sleep 0.3\n`;
    ws.write('crontab', job('one') + job('two'));
    const daemon = ws.start({ args: ['--max-concurrent', '1'] });
    const waiting = await daemon.waitFor({ msg: 'job waiting: --max-concurrent reached' });
    const started = await daemon.waitFor({ msg: 'job started', run: waiting.run });
    assert.deepEqual([waiting.running, waiting.waiting], [1, 1]);
    const other = waiting.job === 'one' ? 'two' : 'one';
    const before = daemon.records.slice(0, daemon.indexOf(waiting));
    const otherRun = before.filter((r) => r.msg === 'job started' && r.job === other).at(-1)!;
    assert.equal(otherRun.scheduledAt, started.scheduledAt, 'both were due in the same slot');
    const otherEnd = daemon.all({ msg: 'job finished', run: otherRun.run });
    assert.equal(otherEnd.length, 1);
    assert.ok(daemon.indexOf(otherEnd[0]!) < daemon.indexOf(started), 'the waiting job starts only after the other finished');
    assert.ok(started.lateMs! >= 290, `lateMs ${started.lateMs}`);
    assert.equal(maxConcurrent(daemon.records.slice(0, daemon.indexOf(started) + 1)), 1);
  });
});
