// A real daemon stopped with SIGSTOP (what a paused VM or a `kill -STOP` does): the slots that
// fell in the stall follow the rules of a forward jump, and the history, the jobs' own ledger
// and the log say the same thing.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { killAllDaemons, workspace } from '../helpers/daemon.js';
import { history } from '../history/helpers.js';

after(killAllDaemons);

const STALL_MS = 12_000;

describe('a stalled daemon', () => {
  it('regression (issue 11 item 10): after a 12 s SIGSTOP a per-second job runs once for now, its other slots recorded missed (not skipped as overlaps), and a fixed-time job runs every slot once, in order', async (t) => {
    const ws = workspace(t);
    // `0-59 0-23`: minute and hour fields that do not start with `*` make the job fixed-time.
    ws.write(
      'crontab',
      [
        '# schedd: name=tick',
        '* * * * * * echo "$SCHEDD_SCHEDULED_AT" >> tick.ledger',
        '# schedd: name=fixed overlap=allow',
        '*/2 0-59 0-23 * * * echo "$SCHEDD_SCHEDULED_AT" >> fixed.ledger',
        '',
      ].join('\n'),
    );
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'schedd started' });
    await daemon.waitForCount({ msg: 'job finished', job: 'tick' }, 2);
    daemon.signal('SIGSTOP');
    // The stall itself: nothing to wait on, since the daemon cannot say anything while stopped.
    await new Promise((resolve) => setTimeout(resolve, STALL_MS));
    daemon.signal('SIGCONT');
    const stalled = await daemon.waitFor({ reason: 'stall' });
    const afterStall = daemon.indexOf(stalled);
    await daemon.waitForCount({ msg: 'job finished', job: 'tick' }, 3, 15_000, afterStall);
    await daemon.waitForCount({ msg: 'job finished', job: 'fixed' }, 2, 15_000, afterStall);
    assert.equal(await daemon.stop(), 0);

    assert.ok(stalled.delayMs! > STALL_MS - 2_000 && stalled.delayMs! < STALL_MS + 10_000, `stalled for ${stalled.delayMs} ms`);
    assert.match(stalled.msg, /^schedd was stalled for \d+ s \(process stopped or machine suspended\): wildcard jobs fire once for now, fixed-time slots once each$/);
    const seconds = (name: string) => ws.lines(name).map((line) => Date.parse(line) / 1000).sort((a, b) => a - b);

    // tick: one run of consecutive seconds, one hole (the stall), then consecutive again.
    const ticks = seconds('tick.ledger');
    const holes = ticks.slice(1).map((s, i) => [ticks[i]!, s] as const).filter(([a, b]) => b - a !== 1);
    assert.equal(holes.length, 1, `tick ledger: ${JSON.stringify(ticks)}`);
    const [beforeHole, afterHole] = holes[0]!;
    const tickHistory = await history(ws, 'tick');
    const notRun = tickHistory.filter((r) => r.outcome === 'skipped' || r.outcome === 'missed');
    assert.equal(notRun.length, 1, JSON.stringify(notRun));
    const missed = notRun[0]!;
    const count = afterHole - beforeHole - 1;
    assert.equal(missed.outcome, 'missed');
    assert.equal(missed.scheduledAt, new Date((beforeHole + 1) * 1000).toISOString());
    const stalledS = Math.round(stalled.delayMs! / 1000);
    assert.equal(missed.reason, `${count} slots up to ${new Date((afterHole - 1) * 1000).toISOString()}: schedd was stalled for ${stalledS} s (process stopped or machine suspended)`);
    assert.ok(count >= 9, `only ${count} slots in the stall`);
    // Every tick in the ledger is a run in the history, and the other way round.
    assert.deepEqual(tickHistory.filter((r) => r.outcome === 'ok').map((r) => Date.parse(r.scheduledAt) / 1000), ticks);

    // fixed: every even second from its first slot to its last, each once; nothing skipped.
    const fixed = seconds('fixed.ledger');
    assert.ok(fixed.length >= 8, `fixed ledger: ${JSON.stringify(fixed)}`);
    assert.deepEqual(fixed, Array.from({ length: fixed.length }, (_, i) => fixed[0]! + 2 * i));
    const fixedHistory = await history(ws, 'fixed');
    assert.deepEqual(fixedHistory.filter((r) => r.outcome !== 'ok'), []);
    assert.ok(fixed.some((s) => s > beforeHole && s < afterHole), 'a fixed-time slot fell in the stall and ran');
  });
});
