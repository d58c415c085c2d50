// A log that cannot keep up: the records it drops are counted, reported by a record once it
// catches up, and shown by `schedd status`.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { killAllDaemons, workspace } from './helpers/daemon.js';
import { waitUntil } from './helpers/wait.js';
import { cli } from './history/helpers.js';

after(killAllDaemons);

const JOBS = 24;

describe('dropped log records', () => {
  it('regression (issue 11 item 14): a flood into an unread stdout dropped records silently; now they are counted, a `log records dropped` record says how many, and status shows the total', async (t) => {
    const ws = workspace(t);
    // Each job logs its 1 MiB cap of output, ~1.5 MiB of records: together more than the 16 MiB
    // the log keeps in memory for a reader that does not read.
    const line = 'x'.repeat(200);
    const jobs = Array.from({ length: JOBS }, (_, i) => `# schedd: name=flood${i}\n@reboot i=0; while [ $i -lt 5500 ]; do echo ${line}; i=$((i+1)); done; echo done >> done.ledger\n`);
    ws.write('crontab', jobs.join(''));
    const daemon = ws.start();
    daemon.pauseOutput();
    await waitUntil(`${JOBS} flood jobs done`, () => ws.lines('done.ledger').length === JOBS, 60_000);
    daemon.resumeOutput();
    const report = await daemon.waitFor({ msg: 'log records dropped' }, 60_000);
    // Job output was dropped first: what schedd did is all there.
    await daemon.waitForCount((r) => r.msg === 'job finished' && r.job?.startsWith('flood') === true, JOBS, 30_000);
    assert.equal(daemon.all({ msg: 'job started' }).length, JOBS);
    const status = await cli(ws, ['status', '--json']);
    assert.equal(status.code, 0, JSON.stringify(status));
    const dropped = (JSON.parse(status.stdout) as { logRecordsDropped: number }).logRecordsDropped;
    const human = await cli(ws, ['status']);
    assert.equal(await daemon.stop(), 0);

    const reports = daemon.all({ msg: 'log records dropped' });
    assert.equal(report.level, 40, 'a warning');
    assert.equal(reports.reduce((sum, r) => sum + r.count!, 0), dropped, JSON.stringify(reports));
    assert.ok(dropped > 10_000, `only ${dropped} dropped`);
    assert.match(String(report.reason), /the log buffer was full/);
    assert.ok(Date.parse(report.since!) <= Date.parse(report.time));
    assert.ok(human.stdout.split('\n').includes(`log records dropped: ${dropped}`), human.stdout);
    // What was dropped is what is missing: every output line is either logged or counted.
    const logged = daemon.all({ msg: 'job output' }).length;
    assert.ok(logged + dropped <= JOBS * 5500 + 10 * JOBS, `logged ${logged} + dropped ${dropped}`);
  });
});
