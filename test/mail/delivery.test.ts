// MAILTO through a real MTA (exim4, Debian's `local` configuration): the daemon's jobs print,
// and the tests read what was delivered to /var/mail/USER.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { killAllDaemons, workspace, type DaemonProcess, type Workspace } from '../helpers/daemon.js';
import { ensureUser, needsRoot } from '../helpers/users.js';
import { mailbox, mailsOf, mtaMissing, SENDMAIL, waitForMail } from './mailbox.js';
import type { RunRecord } from '../../src/store/types.js';

after(killAllDaemons);

const skip = mtaMissing() || needsRoot;
/** Job names unique to this test run: the mailboxes outlive it. */
const token = randomBytes(4).toString('hex');
const host = hostname().split('.')[0]!;

async function history(ws: Workspace, job: string): Promise<RunRecord[]> {
  const result = await runCli(['history', job, '--json', '--limit', '1000', '--state-dir', ws.path('state')], { cwd: ws.dir });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as RunRecord[];
}

/** The first run of `job` whose mail the daemon reports as `msg`, and that record. */
async function mailed(daemon: DaemonProcess, job: string, msg = 'job output mailed'): Promise<string> {
  const record = await daemon.waitFor({ job, msg });
  return record.run!;
}

describe('mail: through a real MTA', { skip, concurrency: true }, () => {
  it('CI has an MTA (the tests below would be skipped without one elsewhere)', () => {
    assert.equal(mtaMissing(), false);
    if (process.env.CI) execFileSync(SENDMAIL, ['-bV'], { stdio: 'ignore' });
  });

  it("mails a run's output to every MAILTO address, with cron's headers, from the job's own user", async (t) => {
    const alice = ensureUser('sdtmaila');
    ensureUser('sdtmailb');
    const ws = workspace(t);
    const job = `hello-${token}`;
    ws.write('crontab', `MAILTO=sdtmaila,sdtmailb\nMAILFROM=backup@example.org\n# schedd: name=${job}\n* * * * * * sdtmaila echo hello from $LOGNAME\n`);
    const daemon = ws.start({ args: ['--system'] });
    const run = await mailed(daemon, job);
    const [a, b] = await Promise.all([waitForMail('sdtmaila', run), waitForMail('sdtmailb', run)]);
    assert.equal(a.body, 'hello from sdtmaila\n');
    assert.deepEqual(b.headers.filter(([name]) => /^(X-|Subject|From|MIME|Content|Auto|Precedence)/.test(name)), a.headers.filter(([name]) => /^(X-|Subject|From|MIME|Content|Auto|Precedence)/.test(name)));
    assert.equal(a.header('From'), 'backup@example.org');
    // exim qualifies the bare local names with its own domain.
    assert.match(a.header('To')!, /^sdtmaila(@[\w.-]+)?, ?sdtmailb(@[\w.-]+)?$/);
    assert.equal(a.header('Subject'), `Cron <sdtmaila@${host}> echo hello from $LOGNAME`);
    assert.equal(a.header('MIME-Version'), '1.0');
    assert.equal(a.header('Content-Type'), 'text/plain; charset=UTF-8');
    assert.equal(a.header('Content-Transfer-Encoding'), '8bit');
    assert.equal(a.header('Auto-Submitted'), 'auto-generated');
    assert.equal(a.header('Precedence'), 'bulk');
    assert.deepEqual(a.all('X-Cron-Env'), [
      '<MAILTO=sdtmaila,sdtmailb>',
      '<MAILFROM=backup@example.org>',
      '<SHELL=/bin/sh>',
      `<HOME=${alice.home}>`,
      '<PATH=/usr/bin:/bin>',
      '<LOGNAME=sdtmaila>',
      '<USER=sdtmaila>',
    ]);
    assert.equal(a.header('X-Schedd-Job'), job);
    assert.equal(a.header('X-Schedd-Outcome'), 'ok');
    // Handed to exim by sdtmaila, not by root: exim says who submitted it.
    assert.match(a.header('Received')!, /^from sdtmaila by /);
    assert.match(a.header('Return-Path')!, /^<sdtmaila@/);
    const [row] = (await history(ws, job)).filter((r) => r.runId === run);
    assert.deepEqual(row?.mail, { status: 'sent', detail: 'to sdtmaila,sdtmailb' });
  });

  it('mails stderr too; MAILTO="" sends nothing; no output, nothing; mail=on-failure mails the failure only', async (t) => {
    ensureUser('sdtmaila');
    ensureUser('sdtmailb');
    const ws = workspace(t);
    const [quiet, fine, broken, silent, stderr] = ['quiet', 'fine', 'broken', 'silent', 'stderr'].map((name) => `${name}-${token}`) as [string, string, string, string, string];
    ws.write(
      'crontab',
      [
        'MAILTO=sdtmailb',
        `# schedd: name=${quiet}`,
        '* * * * * * sdtmaila true',
        `# schedd: name=${fine} mail=on-failure`,
        '* * * * * * sdtmaila echo fine',
        `# schedd: name=${broken} mail=on-failure`,
        '* * * * * * sdtmaila exit 3',
        `# schedd: name=${stderr}`,
        '* * * * * * sdtmaila echo to stderr >&2',
        'MAILTO=""',
        `# schedd: name=${silent}`,
        '* * * * * * sdtmaila echo shh',
        '',
      ].join('\n'),
    );
    const daemon = ws.start({ args: ['--system'] });
    // Two runs of each: every job had finished a run before the second failure was mailed.
    const [first, second] = (await daemon.waitForCount({ job: broken, msg: 'job output mailed' }, 2)).map((record) => record.run!);
    const failure = await waitForMail('sdtmailb', second!);
    // A failure without output is mailed too (on-failure): the body says there was none.
    assert.equal(failure.body, '(no output)\n');
    assert.equal(failure.header('X-Schedd-Outcome'), 'failed (exit 3)');
    assert.ok(first !== second);
    const err = await waitForMail('sdtmailb', await mailed(daemon, stderr));
    assert.equal(err.body, 'to stderr\n');
    for (const job of [quiet, fine, silent]) {
      assert.ok(daemon.all({ job, msg: 'job finished' }).length >= 2, `${job} did not run twice`);
      assert.deepEqual(daemon.all((r) => r.job === job && /mail/.test(r.msg)), [], `${job} was mailed`);
      assert.deepEqual([...mailsOf('sdtmaila', job), ...mailsOf('sdtmailb', job)], []);
      assert.deepEqual((await history(ws, job)).filter((r) => r.mail !== undefined), []);
    }
  });

  it('a mail sendmail refuses (exit 75) is logged and recorded with the run; an unsafe MAILTO is refused before any sendmail', async (t) => {
    const ws = workspace(t);
    const sendmail = ws.path('sendmail');
    writeFileSync(sendmail, "#!/bin/sh\ncat >/dev/null\necho '451 4.3.0 try again later' >&2\nexit 75\n", { mode: 0o755 });
    const [tempfail, unsafe] = [`tempfail-${token}`, `unsafe-${token}`];
    ws.write('crontab', `MAILTO=sdtmaila\n# schedd: name=${tempfail}\n* * * * * * root echo out\nMAILTO=-oQ/tmp/x,sdtmaila\n# schedd: name=${unsafe}\n* * * * * * root echo out\n`);
    const daemon = ws.start({ args: ['--system', '--sendmail', sendmail] });
    const failed = await daemon.waitFor({ job: tempfail, msg: 'job mail failed' });
    assert.equal(failed.reason, `${sendmail} exited 75: "451 4.3.0 try again later" (to sdtmaila)`);
    assert.equal(failed.level, 40);
    const refused = await daemon.waitFor({ job: unsafe, msg: 'job output not mailed: MAILTO refused' });
    assert.equal(refused.reason, 'MAILTO address "-oQ/tmp/x" is unsafe (expected letters or digits first, then only letters, digits and @!:%-.,_+=/)');
    await daemon.stop();
    const [failedRow] = (await history(ws, tempfail)).filter((r) => r.runId === failed.run);
    assert.deepEqual(failedRow?.mail, { status: 'failed', detail: failed.reason });
    assert.equal(failedRow?.outcome, 'ok');
    const [refusedRow] = (await history(ws, unsafe)).filter((r) => r.runId === refused.run);
    assert.deepEqual(refusedRow?.mail, { status: 'refused', detail: refused.reason });
    // The table's MAIL column and output's header say it too.
    const table = await runCli(['history', tempfail, '--limit', '1', '--state-dir', ws.path('state')], { cwd: ws.dir });
    const [header, row] = table.stdout.split('\n');
    assert.match(header!, /^RUN +JOB +SCHEDULED +STARTED +DURATION +OUTCOME +MAIL +REASON$/);
    assert.ok(row!.includes(`failed: ${failed.reason}`), row);
    const output = await runCli(['output', tempfail, '--state-dir', ws.path('state')], { cwd: ws.dir });
    assert.match(output.stderr, new RegExp(`^# ${tempfail} run \\S+, ok, 4 bytes of output, mail failed: .*exited 75`));
  });

  it('without a sendmail, one line per run says the output was discarded, and it is recorded', async (t) => {
    const ws = workspace(t);
    const job = `nomta-${token}`;
    ws.write('crontab', `# schedd: name=${job}\n* * * * * * echo out\n`);
    const daemon = ws.start({ args: ['--sendmail', ws.path('no-sendmail')] });
    const records = await daemon.waitForCount({ job, msg: 'job output discarded: no mailer' }, 2);
    assert.deepEqual(records.map((r) => r.reason), [`no mailer at ${ws.path('no-sendmail')} (to ${userInfo().username})`, `no mailer at ${ws.path('no-sendmail')} (to ${userInfo().username})`]);
    await daemon.stop();
    const finished = daemon.all({ job, msg: 'job finished' }).map((r) => r.run);
    // One line per run, never two.
    for (const run of finished) assert.ok(daemon.all({ run, msg: 'job output discarded: no mailer' }).length <= 1);
    const rows = (await history(ws, job)).filter((r) => records.some((record) => record.run === r.runId));
    assert.deepEqual(rows.map((r) => r.mail?.status), ['discarded', 'discarded']);
  });

  it('a huge output is mailed as its head and tail, with a line that says how much was cut', async (t) => {
    ensureUser('sdtmaila');
    const ws = workspace(t);
    const job = `huge-${token}`;
    ws.write('crontab', `MAILTO=sdtmaila\n# schedd: name=${job}\n* * * * * * sdtmaila seq 1 40000\n`);
    const daemon = ws.start({ args: ['--system'] });
    const run = await mailed(daemon, job);
    // One such mail is enough: the mailbox outlives the test.
    await daemon.stop();
    const mail = await waitForMail('sdtmaila', run);
    const full = execFileSync('seq', ['1', '40000'], { encoding: 'utf8' });
    const head = full.slice(0, 32 * 1024);
    const tail = full.slice(full.length - 32 * 1024);
    assert.equal(mail.body, `${head}${head.endsWith('\n') ? '' : '\n'}\n[schedd: ${full.length - 64 * 1024} bytes of output cut here; the job printed ${full.length} bytes, this mail holds the first 32768 and the last 32768]\n\n${tail}`);
  });
});

describe('mail: retries and firing', { skip, concurrency: true }, () => {
  it('a retried run is mailed once, after its final attempt, with that attempt\'s output', async (t) => {
    ensureUser('sdtmaila');
    const ws = workspace(t);
    const job = `retried-${token}`;
    ws.write('crontab', `MAILTO=sdtmaila\n# schedd: name=${job} retries=1\n@reboot echo x >> count; echo attempt $(wc -l < count); exit 1\n`);
    const daemon = ws.start();
    const run = await mailed(daemon, job);
    await daemon.stop();
    assert.equal(daemon.all({ job, msg: 'job failed' }).length, 2);
    assert.equal(daemon.all({ job, msg: 'job output mailed' }).length, 1);
    const mail = await waitForMail('sdtmaila', run);
    assert.equal(mail.body, 'attempt 2\n');
    assert.equal(mail.header('X-Schedd-Outcome'), 'failed (exit 1)');
    assert.deepEqual(mailsOf('sdtmaila', job).map((m) => m.header('X-Schedd-Run')), [run]);
  });

  it('a mailer that hangs holds up no firing, and at most 4 run at once', async (t) => {
    const ws = workspace(t);
    const sendmail = ws.path('sendmail');
    writeFileSync(sendmail, `#!/bin/sh\necho $$ >> ${ws.path('mailers')}\nexec sleep 30\n`, { mode: 0o755 });
    t.after(() => {
      for (const pid of ws.lines('mailers')) {
        try {
          process.kill(-Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
    });
    const job = `hung-${token}`;
    ws.write('crontab', `# schedd: name=${job}\n* * * * * * echo out\n`);
    const daemon = ws.start({ args: ['--sendmail', sendmail] });
    // Six runs finish, one a second, while the first mailers hang.
    await daemon.waitForCount({ job, msg: 'job finished' }, 6, 20_000);
    const running = ws.lines('mailers').filter((pid) => {
      try {
        process.kill(Number(pid), 0);
        return true;
      } catch {
        return false;
      }
    });
    assert.equal(running.length, 4);
    assert.deepEqual(daemon.all((r) => r.job === job && /mail/.test(r.msg)), []);
  });
});

describe('mail: what a mailbox holds is read right', { skip: mtaMissing() || needsRoot }, () => {
  it('a message sent straight through sendmail is found with its headers and body', async () => {
    ensureUser('sdtmailb');
    const run = `direct-${token}`;
    execFileSync(SENDMAIL, ['-i', 'sdtmailb'], { input: `Subject: direct\nX-Schedd-Run: ${run}\n\nline 1\n\nline 3\n` });
    const mail = await waitForMail('sdtmailb', run);
    assert.equal(mail.header('Subject'), 'direct');
    assert.equal(mail.body, 'line 1\n\nline 3\n');
    assert.ok(mailbox('sdtmailb').length >= 1);
  });
});
