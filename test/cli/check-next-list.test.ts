import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());

describe('schedd check', () => {
  it('prints every problem as FILE:LINE:COL and exits 1', async () => {
    tmp.write('bad', '*/5 * * * * ok\n61 * * * * a\n0 0 */2 * sun b\n# schedd: overlap=sometimes\n0 0 * * * c\n');
    const result = await runCli(['check', 'bad'], { cwd: tmp.dir });
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(
      result.stderr,
      [
        "bad:2:1: invalid minute '61' (expected 0-59)",
        "bad:3:5: warning: '*/2' starts with '*', so by cron's rule this entry fires only on days that match both '*/2' and 'sun' (croner and cron-parser would fire on either); write the day field without '*' to fire on either",
        "bad:4:19: invalid overlap 'sometimes' (expected skip|allow|queue|replace)",
        'bad: 2 errors, 1 warning',
        '',
      ].join('\n'),
    );
  });

  it('exits 0 on a valid file, with warnings', async () => {
    tmp.write('good', '@daily /usr/bin/true\n*/10 * * * * * /bin/tick\n');
    const result = await runCli(['check', '-c', 'good'], { cwd: tmp.dir });
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'good: ok, 2 jobs (1 warning)\n');
    assert.match(result.stderr, /^good:2:1: warning: 6 schedule fields/);
  });

  it('uses $SCHEDD_CRONTAB and reports a missing file in one line', async () => {
    const result = await runCli(['check'], { cwd: tmp.dir, env: { SCHEDD_CRONTAB: `${tmp.dir}/missing` } });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `schedd: cannot read crontab ${tmp.dir}/missing: no such file (create it, or name another with -c FILE)\n`);
  });

  it('reads the system format with --system', async () => {
    tmp.write('system', '0 4 * * * root /usr/sbin/logrotate /etc/logrotate.conf\n');
    assert.equal((await runCli(['check', '--system', 'system'], { cwd: tmp.dir })).code, 0);
    const plain = await runCli(['check', 'system'], { cwd: tmp.dir });
    assert.equal(plain.code, 0, 'in the user format, root is the command');
  });
});

describe('schedd next', () => {
  it('prints ISO-8601 times with the zone offset, DST gap noted', async () => {
    const result = await runCli(['next', '30 2 * * *', '-n', '3', '--tz', 'America/New_York', '--from', '2026-03-07T12:00:00Z']);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, '2026-03-08T03:00:00-04:00  (slot 02:30:00 is in the DST gap)\n2026-03-09T02:30:00-04:00\n2026-03-10T02:30:00-04:00\n');
  });

  it('accepts macros and unquoted fields, and reads --from without offset in --tz', async () => {
    const result = await runCli(['next', '@weekly', '-n', '2', '--tz', 'Europe/London', '--from', '2026-11-22T00:00']);
    assert.equal(result.stdout, '2026-11-29T00:00:00+00:00\n2026-12-06T00:00:00+00:00\n');
    const fields = await runCli(['next', '0', '12', '*', '*', 'mon-fri', '-n', '1', '--from', '2026-11-21T00:00:00Z']);
    assert.equal(fields.stdout, '2026-11-23T12:00:00+00:00\n');
  });

  it('exits 2 with a located message for a bad expression, zone or count', async () => {
    const bad = await runCli(['next', '0 0 * * 8']);
    assert.deepEqual([bad.code, bad.stderr], [2, "expression:1:9: invalid day-of-week '8' (expected 0-7 or a name sun-sat)\n"]);
    const zone = await runCli(['next', '@daily', '--tz', 'Moon/Base']);
    assert.deepEqual([zone.code, zone.stderr], [2, "schedd: unknown time zone 'Moon/Base' (expected an IANA zone such as Europe/London)\n"]);
    const count = await runCli(['next', '@daily', '-n', 'zero']);
    assert.equal(count.code, 2);
    assert.equal(count.stderr, "schedd: --count 'zero' is invalid: expected a whole number of 1 or more (see schedd next --help)\n");
  });
});

describe('schedd list', () => {
  it('prints JSON with id, line, schedule, command and next', async () => {
    tmp.write('list', 'CRON_TZ=Asia/Tokyo\n# schedd: name=report\n0 9 * * mon-fri /srv/report.sh%to: ops\n@reboot /srv/warm.sh\n');
    const result = await runCli(['list', '-c', 'list', '--json'], { cwd: tmp.dir });
    assert.equal(result.code, 0);
    const jobs = JSON.parse(result.stdout) as Record<string, unknown>[];
    assert.equal(jobs.length, 2);
    const { next, ...rest } = jobs[0]!;
    assert.deepEqual(rest, { id: 'report', line: 3, schedule: '0 9 * * mon-fri', command: '/srv/report.sh', input: 'to: ops\n', zone: 'Asia/Tokyo' });
    assert.match(String(next), /^\d{4}-\d\d-\d\dT09:00:00\+09:00$/);
    assert.deepEqual([jobs[1]!.schedule, jobs[1]!.next], ['@reboot', null]);
  });

  it('prints a table with relative next times', async () => {
    tmp.write('table', '* * * * * /bin/true\n');
    const result = await runCli(['list', '-c', 'table'], { cwd: tmp.dir });
    const lines = result.stdout.split('\n');
    assert.match(lines[0]!, /^ID\s+SCHEDULE\s+NEXT\s+COMMAND$/);
    assert.match(lines[1]!, /^true-[0-9a-f]{8}\s+\* \* \* \* \*\s+\d{4}-\d\d-\d\d \d\d:\d\d:00 \(in \d+s\)\s+\/bin\/true$/);
  });

  it('refuses an invalid crontab with its errors', async () => {
    tmp.write('broken', '* * * * 9 x\n');
    const result = await runCli(['list', '-c', 'broken'], { cwd: tmp.dir });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "schedd: broken:1:9: invalid day-of-week '9' (expected 0-7 or a name sun-sat)\nbroken: invalid, run 'schedd check' for details\n");
  });

  it('refuses what start refuses, as check does: a job for a user that does not exist', async () => {
    tmp.write('ghost', '# schedd: user=sdtnosuchuser\n@daily true\n');
    const result = await runCli(['list', '-c', 'ghost'], { cwd: tmp.dir });
    const error = process.getuid?.() === 0
      ? "ghost:2:1: unknown user 'sdtnosuchuser' (expected an account on this machine)"
      : "ghost:2:1: cannot run jobs as 'sdtnosuchuser': schedd is not running as root (expected no user, or start schedd as root)";
    assert.deepEqual([result.code, result.stderr], [1, `schedd: ${error}\nghost: invalid, run 'schedd check' for details\n`]);
  });
});
