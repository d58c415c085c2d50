// The mailer: sendmail's argv as Debian's cron gives it, the message on stdin, run as the job's
// user (never as root for another user's job), bounded and timed out. Real processes: a tiny
// sendmail written by each test records what it was given.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Mailer } from '../../src/mail/mailer.js';
import { ensureUser, needsRoot } from '../helpers/users.js';
import { waitUntil } from '../helpers/wait.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A directory anyone may enter and write (the test users' sendmail writes its record there). */
function openDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-mailer-'));
  chmodSync(dir, 0o777);
  dirs.push(dir);
  return dir;
}

/** A sendmail that writes its uid, groups, argv (one per line) and stdin to DIR/got.*, then runs `then`. */
function fakeSendmail(dir: string, then = 'exit 0'): string {
  const path = join(dir, 'sendmail');
  writeFileSync(path, `#!/bin/sh\nid -u > ${dir}/got.uid\nid -G > ${dir}/got.groups\nprintf '%s\\n' "$@" > ${dir}/got.args\ncat > ${dir}/got.stdin\n${then}\n`, { mode: 0o755 });
  return path;
}

describe('mail: the mailer', { concurrency: true }, () => {
  it("calls sendmail with Debian cron's options and the recipients as arguments, the message on stdin", async () => {
    const dir = openDir();
    const mailer = new Mailer({ sendmail: fakeSendmail(dir) });
    const result = await mailer.send({ recipients: ['ops@example.org', 'bob'], message: 'Subject: x\n\nbody\n' });
    assert.deepEqual(result, { status: 'sent' });
    assert.equal(readFileSync(join(dir, 'got.args'), 'utf8'), '-FCronDaemon\n-i\n-B8BITMIME\n-oem\nops@example.org\nbob\n');
    assert.equal(readFileSync(join(dir, 'got.stdin'), 'utf8'), 'Subject: x\n\nbody\n');
  });

  it('a sendmail path with quotes and spaces in it is run as that one file', async () => {
    const dir = openDir();
    const path = join(dir, "my 'send' mail");
    writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/got.args\ncat >/dev/null\n`, { mode: 0o755 });
    assert.deepEqual(await new Mailer({ sendmail: path }).send({ recipients: ['a'], message: 'x\n' }), { status: 'sent' });
    assert.equal(readFileSync(join(dir, 'got.args'), 'utf8'), '-FCronDaemon\n-i\n-B8BITMIME\n-oem\na\n');
  });

  it('runs as the job\'s user: their uid, gid and supplementary groups', { skip: needsRoot }, async () => {
    const user = ensureUser('sdtmaila', { groups: ['sdtmailgrp'] });
    const dir = openDir();
    const mailer = new Mailer({ sendmail: fakeSendmail(dir) });
    const result = await mailer.send({ recipients: ['x'], message: 'm\n', account: { name: user.name, uid: user.uid, gid: user.gid, home: user.home } });
    assert.deepEqual(result, { status: 'sent' });
    assert.equal(readFileSync(join(dir, 'got.uid'), 'utf8').trim(), String(user.uid));
    const expected = execFileSync('id', ['-G', user.name], { encoding: 'utf8' }).trim().split(' ').sort();
    assert.ok(expected.length >= 2, `expected sdtmaila in a supplementary group: ${expected.join(' ')}`);
    assert.deepEqual(readFileSync(join(dir, 'got.groups'), 'utf8').trim().split(' ').sort(), expected);
  });

  it('a sendmail that exits non-zero is a failed delivery, with its status and what it said', async () => {
    const dir = openDir();
    const path = fakeSendmail(dir, "echo '451 4.3.0 try again later' >&2; exit 75");
    const result = await new Mailer({ sendmail: path }).send({ recipients: ['a'], message: 'x\n' });
    assert.deepEqual(result, { status: 'failed', why: `${path} exited 75: "451 4.3.0 try again later"` });
  });

  it('a sendmail that hangs is stopped at the timeout', async () => {
    const dir = openDir();
    const path = fakeSendmail(dir, 'exec sleep 30');
    const started = Date.now();
    const result = await new Mailer({ sendmail: path, timeoutMs: 300 }).send({ recipients: ['a'], message: 'x\n' });
    assert.deepEqual(result, { status: 'failed', why: `${path} did not finish within 300ms` });
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });

  it('without a sendmail at the path the output is discarded, and nothing is started', async () => {
    const dir = openDir();
    const result = await new Mailer({ sendmail: join(dir, 'none') }).send({ recipients: ['a'], message: 'x\n' });
    assert.deepEqual(result, { status: 'discarded', why: `no mailer at ${join(dir, 'none')}` });
  });

  it('at most maxConcurrent mailers run at once; past maxQueued waiting, a mail is dropped', async () => {
    const dir = openDir();
    // Each mailer holds until the file `go` exists, and counts how many run at once.
    const path = join(dir, 'sendmail');
    writeFileSync(path, `#!/bin/sh\ncat >/dev/null\necho start >> ${dir}/log\nwhile [ ! -e ${dir}/go ]; do sleep 0.02; done\necho end >> ${dir}/log\n`, { mode: 0o755 });
    const mailer = new Mailer({ sendmail: path, maxConcurrent: 2, maxQueued: 2 });
    const sends = Array.from({ length: 5 }, () => mailer.send({ recipients: ['a'], message: 'x\n' }));
    // Two run, two wait, the fifth finds the queue full.
    assert.deepEqual(await sends[4], { status: 'dropped', why: '2 messages already wait for a mailer (2 at once)' });
    const log = (): string[] => readFileSync(join(dir, 'log'), 'utf8').trim().split('\n');
    await waitUntil('two mailers running', () => {
      try {
        return log().length === 2;
      } catch {
        return false;
      }
    });
    writeFileSync(join(dir, 'go'), '');
    assert.deepEqual(await Promise.all(sends.slice(0, 4)), Array(4).fill({ status: 'sent' }));
    // Never more than two between a start and an end.
    let running = 0;
    let most = 0;
    for (const line of log()) most = Math.max(most, (running += line === 'start' ? 1 : -1));
    assert.equal(most, 2);
    assert.equal(log().length, 8);
  });
});
