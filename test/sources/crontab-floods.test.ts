// Issue 11 item 14: a crontab flood (one huge line, a huge file, 200,000 errors) costs bounded
// memory and a bounded number of log records.
import assert from 'node:assert/strict';
import { closeSync, openSync, writeSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { killAllDaemons, workspace } from '../helpers/daemon.js';

after(killAllDaemons);

const BAD_LINES = 200_000;

describe('crontab floods', { concurrency: true }, () => {
  it('regression (issue 11 item 14): a 50 MB one-line crontab is refused by its size before it is read', async (t) => {
    const ws = workspace(t);
    const fd = openSync(ws.path('crontab'), 'w', 0o644);
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 50; i++) writeSync(fd, chunk);
    closeSync(fd);
    const check = await runCli(['check', 'crontab'], { cwd: ws.dir });
    assert.deepEqual(check, { code: 1, signal: null, stdout: '', stderr: 'schedd: crontab: file is 50 MiB (expected at most 16 MiB)\n' });
    const daemon = ws.start();
    assert.equal((await daemon.waitExit(10_000)).code, 1);
    assert.equal(daemon.stderr, 'schedd: crontab: file is 50 MiB (expected at most 16 MiB)\n');
  });

  it('regression (issue 11 item 14): a line over 64 KiB is an error that says the limit, and the lines around it still count', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', `0 0 1 1 * true\n0 0 1 1 * echo ${'y'.repeat(70_000)}\n0 0 1 1 * echo ok\n`);
    const check = await runCli(['check', 'crontab'], { cwd: ws.dir });
    assert.deepEqual(check, { code: 1, signal: null, stdout: '', stderr: 'crontab:2:1: line is 70015 bytes long (expected at most 65536)\ncrontab: 1 error, 0 warnings\n' });
  });

  it('regression (issue 11 item 14): a reload of a file with 200,000 errors logs the first 20 and a count', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=yearly\n0 0 1 1 * true\n');
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'schedd started' });
    const before = daemon.records.length;
    ws.replace('crontab', 'x\n'.repeat(BAD_LINES));
    const summary = await daemon.waitFor((r) => r.msg.startsWith('reload rejected: crontab has'), 30_000, before);
    assert.equal(summary.msg, `reload rejected: crontab has ${BAD_LINES} errors; keeping the current schedule`);
    assert.equal(summary.count, BAD_LINES);
    const each = daemon.all((r) => r.msg.startsWith('reload rejected: ') && r !== summary, before);
    assert.equal(each.length, 21);
    assert.equal(each[0]!.msg, "reload rejected: crontab:1:2: incomplete entry: 1 of 5 schedule fields (expected 'minute hour day-of-month month day-of-week command' or '@macro command')");
    assert.equal(each[20]!.msg, 'reload rejected: ... and 199,980 more errors');
    assert.equal(summary.errors?.length, 21);
    // status says the whole count, and shows the same first errors.
    const status = await runCli(['status', '--state-dir', 'state'], { cwd: ws.dir, env: { HOME: ws.dir } });
    const lines = status.stdout.split('\n');
    const at = lines.findIndex((line) => line.startsWith('last reload:'));
    assert.match(lines[at]!, /^last reload: \d+s ago, rejected, 200000 errors$/);
    assert.equal(lines[at + 1], "  crontab:1:2: incomplete entry: 1 of 5 schedule fields (expected 'minute hour day-of-month month day-of-week command' or '@macro command')");
    assert.equal(lines[at + 21], '  ... and 199,980 more errors');
    assert.equal(lines[at + 22]?.startsWith('  '), false);
  });

  it('regression (issue 11 item 14): start with 200,000 errors prints the first 20 and a count', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', 'x\n'.repeat(BAD_LINES));
    const daemon = ws.start();
    assert.equal((await daemon.waitExit(30_000)).code, 1);
    const lines = daemon.stderr.split('\n');
    assert.equal(lines.length, 23); // 20 errors, the count, the verdict, and the final newline
    assert.deepEqual(lines.slice(19), ["crontab:20:2: incomplete entry: 1 of 5 schedule fields (expected 'minute hour day-of-month month day-of-week command' or '@macro command')", '... and 199,980 more errors', 'crontab: invalid, schedd did not start', '']);
  });
});
