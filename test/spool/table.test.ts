import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lookupAccount, type Account } from '../../src/accounts.js';
import { crontabAllowed, spoolDir, tablePath } from '../../src/spool/layout.js';
import { installTable, readTable, removeTable } from '../../src/spool/table.js';
import { tempDir } from '../helpers/cli.js';
import { ensureUser, needsRoot } from '../helpers/users.js';

describe('the spool: cron.allow and cron.deny, as Debian reads them', () => {
  const tmp = tempDir('schedd-allow-');
  after(() => tmp.cleanup());
  let n = 0;
  const root = (allow?: string, deny?: string): string => {
    const dir = join(tmp.dir, `root-${++n}`);
    mkdirSync(join(dir, 'etc'), { recursive: true });
    if (allow !== undefined) writeFileSync(join(dir, 'etc', 'cron.allow'), allow);
    if (deny !== undefined) writeFileSync(join(dir, 'etc', 'cron.deny'), deny);
    return dir;
  };
  const alice = { name: 'alice', uid: 1001 };
  const bob = { name: 'bob', uid: 1002 };
  const no = (name: string) => ({ ok: false, message: `You (${name}) are not allowed to use this program (crontab)` });

  it('neither file: everyone', async () => {
    assert.deepEqual(await crontabAllowed(root(), alice), { ok: true });
  });
  it('cron.allow: only those listed (a line each, blanks, spaces and comments ignored)', async () => {
    const dir = root('# who may\n  alice \n\n');
    assert.deepEqual(await crontabAllowed(dir, alice), { ok: true });
    assert.deepEqual(await crontabAllowed(dir, bob), no('bob'));
    assert.deepEqual(await crontabAllowed(root(''), alice), no('alice'));
  });
  it('cron.deny alone: everyone but those listed', async () => {
    const dir = root(undefined, 'bob\n');
    assert.deepEqual(await crontabAllowed(dir, alice), { ok: true });
    assert.deepEqual(await crontabAllowed(dir, bob), no('bob'));
  });
  it('both: cron.allow wins', async () => {
    const dir = root('bob\n', 'bob\nalice\n');
    assert.deepEqual(await crontabAllowed(dir, bob), { ok: true });
    assert.deepEqual(await crontabAllowed(dir, alice), no('alice'));
  });
  it('root always, even when denied', async () => {
    assert.deepEqual(await crontabAllowed(root('', 'root\n'), { name: 'root', uid: 0 }), { ok: true });
  });
  it('a list that cannot be read refuses (a directory, a FIFO: never hangs)', async () => {
    const dir = root();
    mkdirSync(join(dir, 'etc', 'cron.allow'));
    assert.deepEqual(await crontabAllowed(dir, alice), { ok: false, message: `cannot read the cron.allow or cron.deny of ${dir}: ${join(dir, 'etc', 'cron.allow')} is not a regular file` });
  });
});

describe('the spool: install, list, remove as root', { skip: needsRoot }, () => {
  const tmp = tempDir('schedd-spool-');
  after(() => tmp.cleanup());
  let alice: Account;
  let n = 0;
  const cronRoot = (): string => {
    const dir = join(tmp.dir, `root-${++n}`);
    mkdirSync(dir);
    return dir;
  };
  before(() => {
    ensureUser('sdtcal');
    alice = lookupAccount('sdtcal')!;
  });

  it("installs a valid table as the user's, mode 0600, in a spool made root's 0700, with nothing else left", async () => {
    const dir = cronRoot();
    const result = await installTable(dir, alice, '@daily /bin/true\n', 'mine');
    assert.deepEqual(result, { user: 'sdtcal', installed: true, jobs: 1, errors: [], errorCount: 0, warnings: [] });
    const stat = lstatSync(tablePath(dir, 'sdtcal'));
    assert.deepEqual([stat.isFile(), stat.uid, stat.gid, stat.mode & 0o7777, stat.nlink], [true, alice.uid, alice.gid, 0o600, 1]);
    const spool = lstatSync(spoolDir(dir));
    assert.deepEqual([spool.uid, spool.mode & 0o7777], [0, 0o700]);
    assert.deepEqual(readdirSync(spoolDir(dir)), ['sdtcal']);
    assert.equal(await readTable(dir, 'sdtcal'), '@daily /bin/true\n');
  });

  it("keeps an existing spool's mode (Debian's 1730) and replaces the table by a rename (a new inode)", async () => {
    const dir = cronRoot();
    mkdirSync(spoolDir(dir), { recursive: true });
    chmodSync(spoolDir(dir), 0o1730);
    await installTable(dir, alice, '@daily /bin/true\n', 'mine');
    const before = lstatSync(tablePath(dir, 'sdtcal')).ino;
    await installTable(dir, alice, '@hourly /bin/true\n', 'mine');
    assert.notEqual(lstatSync(tablePath(dir, 'sdtcal')).ino, before);
    assert.equal(lstatSync(spoolDir(dir)).mode & 0o7777, 0o1730);
    assert.equal(readFileSync(tablePath(dir, 'sdtcal'), 'utf8'), '@hourly /bin/true\n');
  });

  it('refuses an invalid table with every error as NAME:LINE:COL, and installs nothing', async () => {
    const dir = cronRoot();
    const result = await installTable(dir, alice, '61 * * * * /bin/true\n@daily /bin/true\n* * * 13 * /bin/true\n', 'mine');
    assert.deepEqual(result, {
      user: 'sdtcal',
      installed: false,
      jobs: 1,
      errors: ["mine:1:1: invalid minute '61' (expected 0-59)", "mine:3:7: invalid month '13' (expected 1-12 or a name jan-dec)"],
      errorCount: 2,
      warnings: [],
    });
    assert.equal(existsSync(tablePath(dir, 'sdtcal')), false);
  });

  it("refuses a job as another user (user=root) in a user's table", async () => {
    const dir = cronRoot();
    const result = await installTable(dir, alice, '# schedd: user=root\n@daily /bin/true\n', 'mine');
    assert.equal(result.installed, false);
    assert.equal(result.errors.length, 1);
    assert.match(result.errors[0]!, /^mine:2:1: .*user=root.*owner/);
    assert.equal(existsSync(tablePath(dir, 'sdtcal')), false);
  });

  it('refuses a table naming hundreds of other users at once, every one counted, the first 20 shown', async () => {
    const dir = cronRoot();
    // Refused on the parse, before validation would look each name up (a getent per name).
    const text = Array.from({ length: 500 }, (_, i) => `# schedd: user=sdtnobody${i}\n@daily /bin/true\n`).join('');
    const result = await installTable(dir, alice, text, 'mine');
    assert.deepEqual([result.installed, result.errorCount, result.errors.length, result.errors[0]], [false, 500, 20, "mine:2:1: user=sdtnobody0: a user's crontab runs only as its owner (expected no user=, or user=sdtcal)"]);
  });

  it('tells root what only a look as root can tell (a missing cwd), and a user on the socket not', async () => {
    const dir = cronRoot();
    const text = '# schedd: cwd=/root/secret-place\n@daily /bin/true\n';
    const asRoot = await installTable(dir, alice, text, 'mine');
    assert.deepEqual(asRoot.warnings, ['mine:2:1: warning: cwd /root/secret-place does not exist (runs fail to start until it does)']);
    const asUser = await installTable(dir, alice, text, 'mine', { unprivileged: true });
    assert.deepEqual([asUser.installed, asUser.warnings], [true, []]);
  });

  it('never follows a link planted as the table: list refuses it, install and remove replace or remove the link itself', async () => {
    const dir = cronRoot();
    await installTable(dir, alice, '@daily /bin/true\n', 'mine');
    const secret = join(tmp.dir, `secret-${n}`);
    writeFileSync(secret, 'root only\n', { mode: 0o600 });
    rmSync(tablePath(dir, 'sdtcal'));
    symlinkSync(secret, tablePath(dir, 'sdtcal'));
    await assert.rejects(readTable(dir, 'sdtcal'), { message: `${tablePath(dir, 'sdtcal')} is a symbolic link (expected a regular file; remove it)` });
    assert.equal(await removeTable(dir, 'sdtcal'), true);
    assert.equal(readFileSync(secret, 'utf8'), 'root only\n');
    assert.equal(await removeTable(dir, 'sdtcal'), false);
  });

  it("shows a user only a table that is theirs, with one link (never root's bytes under their name)", async () => {
    const dir = cronRoot();
    await installTable(dir, alice, '@daily /bin/true\n', 'mine');
    assert.equal(await readTable(dir, 'sdtcal', alice.uid), '@daily /bin/true\n');
    chownSync(tablePath(dir, 'sdtcal'), 0, 0);
    await assert.rejects(readTable(dir, 'sdtcal', alice.uid), /is not a table of yours \(owned by uid 0, 1 links/);
    chownSync(tablePath(dir, 'sdtcal'), alice.uid, alice.gid);
    linkSync(tablePath(dir, 'sdtcal'), join(tmp.dir, `extra-${n}`));
    await assert.rejects(readTable(dir, 'sdtcal', alice.uid), /2 links/);
  });

  it('refuses a spool someone else could change', async () => {
    const dir = cronRoot();
    mkdirSync(join(dir, 'var', 'spool', 'cron'), { recursive: true });
    chmodSync(join(dir, 'var', 'spool'), 0o777);
    await assert.rejects(installTable(dir, alice, '@daily /bin/true\n', 'mine'), /^ScheddError: spool .*\/var\/spool is writable by group or others/);
    assert.equal(existsSync(spoolDir(dir)), false);
  });
});
