// Issue 11 item 12: processes a job starts in the background and never waits for are counted,
// tracked after the job's shell exits, and killed at the job's timeout and at schedd's stop.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { killAllDaemons, workspace, type LogRecord } from '../helpers/daemon.js';
import { liveMembers } from '../../src/runner/index.js';

after(killAllDaemons);

/** A per-second job whose first run starts `count` background sleeps and exits 0 at once. */
function leaver(count: number, options: string): string {
  return `# schedd: name=leaver ${options}\n* * * * * * [ -e first ] && exit 0; touch first; i=0; while [ $i -lt ${count} ]; do sleep 300 & i=$((i+1)); done; exit 0\n`;
}

describe('processes a job leaves behind', { concurrency: true }, () => {
  it('regression (issue 11 item 12): 2,000 background sleeps are counted, do not block the next run, and are gone when schedd stop returns', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', leaver(2000, ''));
    const daemon = ws.start({ args: ['--kill-grace', '2s'] });
    const first = await daemon.waitFor({ msg: 'job started', job: 'leaver' });
    const left = await daemon.waitFor((r) => r.msg.startsWith('job left'), 30_000);
    assert.deepEqual([left.msg, left.run, left.count], ['job left 2000 processes behind (killed when schedd stops)', first.run, 2000]);
    const finished = daemon.all({ msg: 'job finished', run: first.run })[0]!;
    assert.equal(finished.outcome, 'ok');
    // The run is over: the slots after it run, not 'skipped: previous run still active' (slots
    // while the loop was still starting sleeps were rightly skipped).
    const from = daemon.indexOf(finished);
    await daemon.waitForCount((r) => r.msg === 'job finished' && r.job === 'leaver', 2, 15_000, from + 1);
    assert.deepEqual(daemon.all((r) => r.msg.startsWith('job skipped'), from), []);
    assert.equal(liveMembers(first.pid!), 2000);
    assert.equal(await daemon.stop('SIGTERM'), 0);
    assert.equal(liveMembers(first.pid!), 0);
    const killing = daemon.all((r) => r.msg.startsWith('killing'));
    assert.deepEqual(killing.map((r: LogRecord) => [r.msg, r.run, r.count, r.reason]), [['killing 2000 processes the job left behind (schedd is stopping)', first.run, 2000, 'schedd is stopping']]);
    assert.equal(daemon.all({ msg: 'processes the job left behind are gone', run: first.run }).length, 1);
  });

  it('regression (issue 11 item 12): what a run left behind is killed at the job\'s timeout, counted from the run\'s start', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', leaver(50, 'timeout=3s'));
    const daemon = ws.start();
    const first = await daemon.waitFor({ msg: 'job started', job: 'leaver' });
    const left = await daemon.waitFor((r) => r.msg.startsWith('job left'), 15_000);
    assert.match(left.msg, /^job left 50 processes behind \(killed when its timeout, in (2s\d*ms|2s|1s\d*ms)\)$/);
    const killed = await daemon.waitFor({ msg: 'processes the job left behind are gone', run: first.run }, 15_000);
    const killing = daemon.all((r) => r.msg.startsWith('killing'))[0]!;
    assert.deepEqual([killing.msg, killing.count, killing.reason], ['killing 50 processes the job left behind (timeout)', 50, 'timeout']);
    const afterMs = Date.parse(killing.time) - Date.parse(first.time);
    assert.ok(afterMs >= 2900 && afterMs < 5000, `killed ${afterMs} ms after the run started (timeout=3s)`);
    assert.equal(killed.signal, 'SIGTERM');
    assert.equal(liveMembers(first.pid!), 0);
    // The run itself stays what it was.
    assert.equal(daemon.all({ msg: 'job finished', run: first.run }).length, 1);
  });
});
