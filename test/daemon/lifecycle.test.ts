// `schedd start --foreground`: starting, @reboot, and stopping with jobs still running.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fixture, hasExited, killAllDaemons, readPid, workspace, type LogRecord } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

/** msg and the fields that matter, of every record from `from` on, for one exact comparison. */
function tail(records: readonly LogRecord[], from: LogRecord, fields: readonly (keyof LogRecord)[]): Record<string, unknown>[] {
  return records.slice(records.indexOf(from)).map((r) => Object.fromEntries([['msg', r.msg], ...fields.filter((f) => r[f] !== undefined).map((f) => [f, r[f]])]));
}

describe('schedd start: lifecycle', { concurrency: true }, () => {
  it('on SIGTERM waits for a running job to finish, then exits 0', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=slow\n* * * * * * sleep 1.5; echo "done $SCHEDD_RUN_ID" > "done-$SCHEDD_RUN_ID"\n');
    const daemon = ws.start({ args: ['--stop-grace', '20s', '--kill-grace', '1s'] });
    const run = await daemon.waitFor({ msg: 'job started', job: 'slow' });
    assert.equal(await daemon.stop('SIGTERM'), 0);
    const stopping = daemon.all((r) => r.msg.startsWith('stopping'))[0]!;
    assert.deepEqual(tail(daemon.records, stopping, ['job', 'run', 'reason', 'running', 'outcome', 'exitCode']), [
      { msg: 'stopping: waiting up to 20 s for 1 running job', reason: 'SIGTERM', running: 1 },
      { msg: 'job finished', job: 'slow', run: run.run, outcome: 'ok', exitCode: 0 },
      { msg: 'schedd stopped' },
    ]);
    assert.equal(ws.read(`done-${run.run}`), `done ${run.run}\n`);
  });

  it('on a second SIGTERM stops waiting and terminates a long job at once', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=long\n* * * * * * exec sleep 30\n');
    const daemon = ws.start({ args: ['--stop-grace', '30s', '--kill-grace', '1s'] });
    const run = await daemon.waitFor({ msg: 'job started', job: 'long' });
    daemon.signal('SIGTERM');
    const stopping = await daemon.waitFor({ msg: 'stopping: waiting up to 30 s for 1 running job' });
    const secondAt = Date.now();
    assert.equal(await daemon.stop('SIGTERM'), 0);
    const stopMs = Date.now() - secondAt;
    assert.ok(stopMs < 10_000, `stopping took ${stopMs} ms after the second SIGTERM`);
    assert.deepEqual(tail(daemon.records, stopping, ['job', 'run', 'reason', 'running', 'outcome', 'signal']), [
      { msg: 'stopping: waiting up to 30 s for 1 running job', reason: 'SIGTERM', running: 1 },
      { msg: 'stopping now: terminating running jobs', reason: 'SIGTERM' },
      { msg: 'terminating running jobs', running: 1 },
      { msg: 'job killed', job: 'long', run: run.run, outcome: 'killed', signal: 'SIGTERM', reason: 'schedd is stopping' },
      { msg: 'schedd stopped' },
    ]);
    assert.ok(hasExited(run.pid!), `job process ${run.pid} outlived the daemon`);
  });

  it('when --stop-grace runs out terminates the job, SIGKILL after --kill-grace for what traps SIGTERM', async (t) => {
    const ws = workspace(t);
    // MAILTO="": the stop's records only, no mail of the job's output among them.
    ws.write('crontab', `MAILTO=""\n# schedd: name=stubborn\n* * * * * * ${fixture('term-trapping-tree.sh')} ${ws.dir}/grandchild-$SCHEDD_RUN_ID.pid\n`);
    const daemon = ws.start({ args: ['--stop-grace', '1s', '--kill-grace', '1s'] });
    const ready = await daemon.waitFor({ msg: 'job output', job: 'stubborn', line: 'ready' });
    const grandchild = readPid(ws.path(`grandchild-${ready.run}.pid`));
    assert.equal(await daemon.stop('SIGTERM'), 0);
    const stopping = daemon.all((r) => r.msg.startsWith('stopping'))[0]!;
    assert.deepEqual(tail(daemon.records, stopping, ['run', 'reason', 'running', 'outcome', 'signal', 'stream', 'line']).filter((r) => r.stream !== 'stderr'), [
      { msg: 'stopping: waiting up to 1 s for 1 running job', reason: 'SIGTERM', running: 1 },
      { msg: 'terminating running jobs', running: 1 },
      { msg: 'job output', run: ready.run, stream: 'stdout', line: 'grandchild got TERM' },
      { msg: 'job killed', run: ready.run, outcome: 'killed', signal: 'SIGTERM', reason: 'schedd is stopping; SIGKILL after 1s grace' },
      { msg: 'schedd stopped' },
    ]);
    const terminating = daemon.all({ msg: 'terminating running jobs' })[0]!;
    const graceMs = Date.parse(terminating.time) - Date.parse(stopping.time);
    assert.ok(graceMs >= 990, `terminated ${graceMs} ms after stopping began, before --stop-grace ran out`);
    await waitUntil(`grandchild ${grandchild} to be gone`, () => hasExited(grandchild), 5000);
  });

  it('exits 1 on an invalid crontab, every error located on stderr, nothing run', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=ok\n* * * * * * touch ran\n61 * * * * * echo bad\n# schedd: overlap=sometimes\n* * * * * * echo other\n');
    const daemon = ws.start();
    const exit = await daemon.waitExit();
    assert.deepEqual(exit, { code: 1, signal: null });
    assert.equal(
      daemon.stderr,
      [
        "schedd: crontab:3:1: invalid second '61' (expected 0-59)",
        "crontab:4:19: invalid overlap 'sometimes' (expected skip|allow|queue|replace)",
        'crontab: invalid, schedd did not start',
        '',
      ].join('\n'),
    );
    assert.deepEqual(daemon.records, []);
    assert.deepEqual(daemon.unparsed, []);
    assert.equal(existsSync(ws.path('ran')), false);
  });

  it('runs @reboot jobs once per boot, not again on a second start with the same state dir', async (t) => {
    const ws = workspace(t);
    // tick shows the daemon is up (and its signal handlers installed) before each stop.
    ws.write('crontab', '# schedd: name=boot\n@reboot echo "boot $SCHEDD_RUN_ID" >> reboot-ledger\n# schedd: name=tick\n* * * * * * true\n');
    const first = ws.start();
    const booted = await first.waitFor({ msg: 'job finished', job: 'boot' });
    await first.waitFor({ msg: 'job finished', job: 'tick' });
    assert.equal(await first.stop('SIGTERM'), 0);
    assert.deepEqual(ws.lines('reboot-ledger'), [`boot ${booted.run}`]);
    assert.equal(first.all({ msg: 'job started', job: 'boot' }).length, 1);
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    assert.equal(ws.read('state/reboot-boot-id'), `${bootId}\n`);

    const second = ws.start();
    const already = await second.waitFor({ msg: '@reboot jobs already ran in this boot' });
    assert.equal(already.count, 1);
    await second.waitFor({ msg: 'job finished', job: 'tick' });
    assert.equal(await second.stop('SIGTERM'), 0);
    assert.deepEqual(second.all({ msg: 'job started', job: 'boot' }), []);
    assert.deepEqual(ws.lines('reboot-ledger'), [`boot ${booted.run}`]);
  });
});

describe('schedd start: the log at exit', () => {
  // The bug (fixed in cd1050c): log.ts made the destination with minLength 0, with which
  // sonic-boom's flush(cb) calls back at once, so the flush before process.exit waited for
  // nothing; at exit pino's flushSync wrote the queued records but skipped the chunk in flight.
  // With stdout's (non-blocking) pipe full, that chunk was lost: 122 records here. Under CPU
  // load it could also be overtaken ('schedd stopped' logged before 'job killed').
  it('regression: records being written when schedd exited were lost, because the flush before exit waited for nothing', async (t) => {
    const ws = workspace(t);
    const lines = 20_000;
    // MAILTO="": no mail of the output, whose log line would come between the last two.
    ws.write('crontab', `MAILTO=""\n# schedd: name=chatty\n* * * * * * seq 1 ${lines}; touch printed; exec sleep 30\n`);
    const daemon = ws.start({ args: ['--stop-grace', '1s', '--kill-grace', '1s'] });
    const run = await daemon.waitFor({ msg: 'job started', job: 'chatty' });
    // A slow reader, as a busy log collector is: schedd's stdout fills while it keeps logging.
    daemon.pauseOutput();
    await waitUntil('the job to print everything', () => existsSync(ws.path('printed')));
    daemon.signal('SIGTERM');
    await waitUntil(`job ${run.pid} to be stopped`, () => hasExited(run.pid!), 10_000);
    daemon.resumeOutput();
    assert.equal((await daemon.waitExit()).code, 0);
    assert.deepEqual(daemon.unparsed, []);
    const output = daemon.all({ msg: 'job output', run: run.run }).map((r) => Number(r.line));
    const missing = lines - new Set(output).size;
    assert.equal(missing, 0, `${missing} output records lost`);
    assert.deepEqual(output, Array.from({ length: lines }, (_, i) => i + 1), 'output records in order');
    assert.deepEqual(daemon.records.slice(-2).map((r) => r.msg), ['job killed', 'schedd stopped']);
  });
});
