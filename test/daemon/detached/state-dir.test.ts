// The state directory of a root daemon, attacked for real by another local user (sdtalice):
// planted links, a directory she owns, the lock squatted from her process, --user and a
// restarted scheduler. Every refusal is one line; nothing is written through her links.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cliPath, runCli } from '../../helpers/cli.js';
import { hasExited } from '../../helpers/daemon.js';
import { cleanupAll, instance, sharedInstance as sharedTemp, type Instance } from '../../helpers/detached.js';
import { ensureUser, needsRoot, runAs, spawnAs, type TestUser } from '../../helpers/users.js';
import { waitUntil } from '../../helpers/wait.js';

after(cleanupAll);

const YEARLY = '# schedd: name=yearly\n0 0 1 1 * true\n';
const TICK = '# schedd: name=tick\n* * * * * * echo "tick $SCHEDD_RUN_ID"\n';

function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'))!;
  return Number(line.split(/\s+/)[1]);
}

/** A root-only file (0600) that no attack may change: its owner, mode and text stay. */
function victim(s: Instance): { path: string; intact(): void } {
  const path = s.write('victim', 'root only\n');
  chmodSync(path, 0o600);
  return {
    path,
    intact() {
      const stat = statSync(path);
      assert.deepEqual([stat.uid, stat.gid, stat.mode & 0o7777, readFileSync(path, 'utf8')], [0, 0, 0o600, 'root only\n'], `${path} was changed`);
    },
  };
}

const sharedInstance = (t: { after(fn: () => unknown): void }): Instance => sharedTemp(t, YEARLY);

const refusal = (stderr: string): { code: number; signal: null; stdout: string; stderr: string } => ({ code: 1, signal: null, stdout: '', stderr: `schedd: ${stderr}\n` });

describe('state directory', { skip: needsRoot, concurrency: true }, () => {
  let alice: TestUser;
  const asAlice = (args: readonly string[]): ReturnType<typeof runAs> => runAs(alice, 'sh', ['-c', args.join(' ')]);

  it('regression (issue 11 item 2): root refuses a state directory another user created, and writes nothing through her links', async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    const target = victim(s);
    // Hers, with her links where the log, the pidfile and the history would go.
    mkdirSync(s.stateDir, { mode: 0o755 });
    chownSync(s.stateDir, alice.uid, alice.gid);
    for (const name of ['schedd.log', 'schedd.pid', 'history.db']) assert.equal((await asAlice(['ln', '-s', target.path, join(s.stateDir, name)])).code, 0);
    assert.deepEqual(await s.start(), refusal(`state directory ${s.stateDir} is owned by uid ${alice.uid} (expected 0)`));
    assert.deepEqual(await s.cli(['start', '--foreground', '-c', s.crontabPath, '--state-dir', s.stateDir]), refusal(`state directory ${s.stateDir} is owned by uid ${alice.uid} (expected 0)`));
    target.intact();
    assert.deepEqual(s.processes(), []);
  });

  it('regression (issue 11 item 2): a state directory that is a symbolic link is refused', async (t) => {
    const s = sharedInstance(t);
    mkdirSync(s.path('elsewhere'), { mode: 0o700 });
    symlinkSync(s.path('elsewhere'), s.stateDir);
    assert.deepEqual(await s.start(), refusal(`state directory ${s.stateDir} is a symbolic link (expected a directory)`));
    assert.equal(readlinkSync(s.stateDir), s.path('elsewhere'));
  });

  it('regression (issue 11 item 2): a state directory under a directory others can write is refused (the OpenSSH rule)', async (t) => {
    const s = sharedInstance(t);
    mkdirSync(s.path('open'));
    chmodSync(s.path('open'), 0o777);
    const dir = s.path('open/state');
    const expected = refusal(`state directory ${dir}: parent ${s.path('open')} is writable by group or others (mode 777; expected no write bit for them, or the sticky bit)`);
    assert.deepEqual(await s.cli(['start', '-c', s.crontabPath, '--state-dir', dir]), expected);
    // A client finds nothing to ask while it does not exist; once it does, it is refused too.
    mkdirSync(dir, { mode: 0o700 });
    assert.deepEqual(await s.cli(['stop', '--state-dir', dir]), expected);
  });

  it('regression (issue 11 item 2): missing parents are not created inside a directory another user controls (nor through her link)', async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    const made = await asAlice(['mktemp', '-d']);
    const hers = made.stdout.trim();
    t.after(() => void runAs(alice, 'rm', ['-rf', hers]));
    mkdirSync(s.path('elsewhere'), { mode: 0o755 });
    assert.equal((await asAlice(['ln', '-s', s.path('elsewhere'), `${hers}/link`])).code, 0);
    const dir = `${hers}/link/sub/state`;
    assert.deepEqual(await s.cli(['start', '-c', s.crontabPath, '--state-dir', dir]), refusal(`state directory ${dir}: parent ${hers} is owned by uid ${alice.uid} (expected 0)`));
    assert.deepEqual(readdirSync(s.path('elsewhere')), []);
  });

  it('regression (issue 11 item 2): a link planted where the history file goes is refused, not opened by SQLite', async (t) => {
    const s = sharedInstance(t);
    const target = victim(s);
    mkdirSync(s.stateDir, { mode: 0o700 });
    symlinkSync(target.path, join(s.stateDir, 'history.db'));
    assert.deepEqual(await s.start(), refusal(`state directory ${s.stateDir}: ${join(s.stateDir, 'history.db')} is a symbolic link (expected a regular file; remove it)`));
    target.intact();
  });

  it('regression (issue 11 item 2): a hard link, a FIFO or a link to SQLite\'s WAL where schedd\'s files go is refused, each in one line naming it', async (t) => {
    const s = sharedInstance(t);
    const target = victim(s);
    mkdirSync(s.stateDir, { mode: 0o700 });
    const plant: [string, () => void, string][] = [
      ['schedd.pid', () => linkSync(target.path, join(s.stateDir, 'schedd.pid')), 'has 2 hard links (expected 1; remove it)'],
      ['history.db-wal', () => symlinkSync(target.path, join(s.stateDir, 'history.db-wal')), 'is a symbolic link (expected a regular file; remove it)'],
      ['schedd.log', () => execFileSync('mkfifo', [join(s.stateDir, 'schedd.log')]), 'is a FIFO (expected a regular file; remove it)'],
    ];
    for (const [name, make, problem] of plant) {
      make();
      assert.deepEqual(await s.start(), refusal(`state directory ${s.stateDir}: ${join(s.stateDir, name)} ${problem}`));
      rmSync(join(s.stateDir, name));
    }
    target.intact();
    assert.deepEqual(s.processes(), []);
  });

  it("regression (issue 11 item 2): root's client commands refuse a state directory another user controls (her fake socket is not asked)", async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    const made = await asAlice(['mktemp', '-d']);
    const hers = made.stdout.trim();
    t.after(() => void runAs(alice, 'rm', ['-rf', hers]));
    assert.equal((await asAlice(['chmod', '755', hers, '&&', 'mkdir', '-m', '700', `${hers}/state`])).code, 0);
    const dir = `${hers}/state`;
    assert.deepEqual(await s.cli(['stop', '--state-dir', dir]), refusal(`state directory ${dir}: parent ${hers} is owned by uid ${alice.uid} (expected 0)`));
    assert.deepEqual(await s.cli(['start', '-c', s.crontabPath, '--state-dir', dir]), refusal(`state directory ${dir}: parent ${hers} is owned by uid ${alice.uid} (expected 0)`));
    // Her directory right in sticky /tmp: the ancestors pass, but anyone could have made it.
    assert.equal((await asAlice(['chmod', '700', hers])).code, 0);
    const real = realpathSync(hers);
    for (const command of ['stop', 'status', 'reload', 'history']) {
      assert.deepEqual(await s.cli([command, '--state-dir', hers]), refusal(`state directory ${real} is owned by uid ${alice.uid} (expected 0)`), command);
    }
  });

  it("regression (issue 11 item 9): a user pointing --state-dir at another user's directory gets one line, not a stack trace", async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    // Root's, 0700, inside a directory she can traverse.
    mkdirSync(s.stateDir, { mode: 0o700 });
    const dir = join(s.stateDir, 'inner');
    const line = refusal(`state directory ${dir}: permission denied for uid ${alice.uid} (expected a directory you own; see --state-dir)`);
    assert.deepEqual(await runAs(alice, process.execPath, [cliPath, 'stop', '--state-dir', dir]), line);
    assert.deepEqual(await runAs(alice, process.execPath, [cliPath, 'start', '--foreground', '-c', s.crontabPath, '--state-dir', dir]), line);
    const own = refusal(`state directory ${s.stateDir} is owned by uid 0 (expected ${alice.uid})`);
    assert.deepEqual(await runAs(alice, process.execPath, [cliPath, 'start', '--foreground', '-c', s.crontabPath, '--state-dir', s.stateDir]), own);
  });

  it('regression (issue 11 item 20): --user as non-root says that --user needs root, no raw EPERM', async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    const result = await runAs(alice, process.execPath, [cliPath, 'start', '--foreground', '--user', 'root', '-c', s.crontabPath, '--state-dir', `${alice.home}/sdt-state`]);
    assert.deepEqual(result, refusal(`--user needs schedd to be started as root (running as uid ${alice.uid})`));
  });

  it('regression (issue 11 item 6): another user squatting the lock names of today cannot keep root\'s daemon from starting', async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    // The names the lock had: a hash of the state directory's path, computable by anyone.
    const digest = createHash('sha256').update(s.stateDir).digest('hex').slice(0, 40);
    const names = ['watchdog', 'scheduler'].map((role) => `\0schedd-${role}-${digest}`);
    const squat = `const net = require('node:net'); let n = 0; for (const name of ${JSON.stringify(names)}) net.createServer().listen(name, () => { if (++n === 2) console.log('squatting'); });`;
    const squatter = spawnAs(alice, process.execPath, ['-e', squat]);
    t.after(() => squatter.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      squatter.stdout.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('squatting') && resolve());
      squatter.once('exit', (code) => reject(new Error(`the squatter exited (${code})`)));
    });
    const pid = await s.started();
    assert.equal((await s.status()).pid, pid);
    assert.equal(squatter.exitCode, null, 'the squatter still holds its names');
    // The lock's secret is root's alone.
    const secret = lstatSync(join(s.stateDir, 'schedd.lock'));
    assert.deepEqual([secret.uid, secret.mode & 0o777, secret.nlink], [0, 0o600, 1]);
    assert.equal((await asAlice(['cat', join(s.stateDir, 'schedd.lock')])).code, 1);
    // And the lock still locks: a second start is refused.
    assert.deepEqual(await s.start(), refusal(`already running (pid ${pid}) with state directory ${s.stateDir}`));
    assert.equal((await s.stop()).code, 0);
  });

  it('regression (issue 11 item 1): with --user, a link the user plants is never chowned when the watchdog restarts her scheduler, and no process stays root', async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    s.write('crontab', TICK);
    chmodSync(s.crontabPath, 0o644);
    const target = victim(s);
    const pid = await s.started(['--user', 'sdtalice']);
    const first = await s.status();

    // Her link, then her scheduler killed: the restart used to chown every entry by path.
    assert.equal((await asAlice(['ln', '-s', target.path, join(s.stateDir, 'planted')])).code, 0);
    assert.equal((await asAlice(['kill', '-9', String(first.schedulerPid)])).code, 0);
    const crash = await s.waitForLog({ msg: 'scheduler exited unexpectedly: restart 1 in 1 s' });
    await s.waitForLog({ msg: 'schedd started' }, { from: crash.index });
    const second = await waitUntil('the restarted scheduler to answer', async () => {
      const status = await s.status().catch(() => undefined);
      return status !== undefined && status.schedulerPid !== first.schedulerPid ? status : undefined;
    });
    target.intact();
    assert.deepEqual([uidOf(pid), uidOf(second.schedulerPid)], [alice.uid, alice.uid], 'the watchdog and the scheduler run as the user');
    const dir = statSync(s.stateDir);
    assert.deepEqual([dir.uid, dir.mode & 0o7777], [alice.uid, 0o700]);
    for (const name of ['schedd.log', 'schedd.pid', 'history.db', 'schedd.lock']) assert.equal(statSync(join(s.stateDir, name)).uid, alice.uid, name);
    await s.waitForLog({ msg: 'job finished', job: 'tick' }, { from: crash.index });
    assert.deepEqual(await s.stop(), { code: 0, signal: null, stdout: `stopping schedd (pid ${pid})...\nstopped\n`, stderr: '' });
    await waitUntil('the daemon to be gone', () => hasExited(pid) && hasExited(second.schedulerPid), 5000);
    target.intact();
  });

  it('regression (issue 11 item 1): with --user, a log link planted before start is not followed by root', async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    const target = victim(s);
    mkdirSync(s.stateDir, { mode: 0o700 });
    chownSync(s.stateDir, alice.uid, alice.gid);
    assert.equal((await asAlice(['ln', '-s', target.path, join(s.stateDir, 'schedd.log')])).code, 0);
    assert.deepEqual(await s.start(['--user', 'sdtalice']), refusal(`state directory ${s.stateDir}: ${join(s.stateDir, 'schedd.log')} is a symbolic link (expected a regular file; remove it)`));
    target.intact();
  });
});

describe('the lock secret', () => {
  it('a lock secret cut short (its creator died before writing it) is refused, not used: a short secret would be guessable', async (t) => {
    const s = instance(t);
    s.write('crontab', YEARLY);
    mkdirSync(s.stateDir, { mode: 0o700 });
    writeFileSync(join(s.stateDir, 'schedd.lock'), 'abc', { mode: 0o600 });
    assert.deepEqual(await s.start(), refusal(`${join(s.stateDir, 'schedd.lock')}: refused: not a 64-character secret; remove it`));
  });
});

describe('state file modes', () => {
  it('regression (issue 11 item 19): history.db 0640 and the pidfile 0644 whatever the umask, in the foreground and detached', async (t) => {
    const previous = process.umask();
    t.after(() => process.umask(previous));
    for (const umask of [0o000, 0o077]) {
      process.umask(umask);
      const s = instance(t);
      s.write('crontab', YEARLY);
      // A crontab written under umask 000 is world-writable, which a root daemon refuses.
      chmodSync(s.crontabPath, 0o644);
      // The foreground: this process's umask is the daemon's.
      const foreground = s.cli(['start', '--foreground', '--json-logs', '-c', s.crontabPath, '--state-dir', s.stateDir]);
      await waitUntil('the foreground daemon to write its pidfile and open its history', () => s.pidfile() !== null && existsSync(join(s.stateDir, 'history.db')));
      const modes = (): number[] => ['history.db', 'schedd.pid'].map((name) => statSync(join(s.stateDir, name)).mode & 0o7777);
      assert.deepEqual([modes(), statSync(s.stateDir).mode & 0o7777], [[0o640, 0o644], 0o700], `foreground, umask ${umask.toString(8)}`);
      assert.equal((await s.stop()).code, 0);
      assert.equal((await foreground).code, 0);
      const pid = await s.started();
      assert.deepEqual([...modes(), statSync(s.logPath).mode & 0o7777], [0o640, 0o644, 0o640], `detached, umask ${umask.toString(8)}`);
      assert.equal((await s.stop()).stdout, `stopping schedd (pid ${pid})...\nstopped\n`);
    }
  });

  it('a state file created by hand keeps working: the daemon fixes a 0755 directory it owns to 0700', async (t) => {
    const s = instance(t);
    s.write('crontab', YEARLY);
    mkdirSync(s.stateDir, { mode: 0o755 });
    chmodSync(s.stateDir, 0o755);
    writeFileSync(join(s.stateDir, 'unrelated'), 'mine\n');
    const pid = await s.started();
    assert.equal(statSync(s.stateDir).mode & 0o7777, 0o700);
    assert.equal((await s.stop()).stdout, `stopping schedd (pid ${pid})...\nstopped\n`);
  });
});

describe('tests stay in their sandbox', () => {
  // As root, the defaults are the machine's own /var/lib/schedd and /etc/schedd: a test that
  // forgot --state-dir read (or stopped!) the real daemon.
  it('regression (issue 11 item 19): a CLI run without --state-dir or -c uses a temporary state directory and crontab, never the machine\'s', async () => {
    const status = await runCli(['status']);
    assert.equal(status.code, 3);
    const sandbox = join(realpathSync(tmpdir()), 'schedd-sandbox-');
    assert.ok(status.stdout.startsWith(`schedd is not running (state directory ${sandbox}`) && status.stdout.endsWith('/state)\n'), status.stdout);
    const check = await runCli(['check']);
    assert.equal(check.code, 1);
    assert.ok(check.stderr.includes(sandbox) && !check.stderr.includes('/etc/schedd'), check.stderr);
  });
});

describe('--user in the foreground', { skip: needsRoot }, () => {
  // Under systemd (Restart=on-failure) the root start comes again after the user's daemon
  // died: it used to chown every entry of her directory by path, links included.
  it('regression (issue 11 item 1): start --foreground --user again, after the user planted a link in her state directory, changes nothing through it', async (t) => {
    const alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    const target = victim(s);
    for (let round = 0; round < 2; round++) {
      const foreground = s.cli(['start', '--foreground', '--json-logs', '--user', 'sdtalice', '-c', s.crontabPath, '--state-dir', s.stateDir]);
      const pid = await waitUntil('the foreground daemon to write its pidfile and open its history', () => (existsSync(join(s.stateDir, 'history.db')) && s.pidfile()) ?? undefined);
      assert.equal(uidOf(pid), alice.uid);
      for (const name of ['.', 'schedd.pid', 'history.db', 'schedd.sock']) assert.equal(lstatSync(join(s.stateDir, name)).uid, alice.uid, name);
      assert.equal((await s.stop()).code, 0);
      assert.equal((await foreground).code, 0);
      if (round === 0) assert.equal((await runAs(alice, 'ln', ['-s', target.path, join(s.stateDir, 'planted')])).code, 0);
    }
    target.intact();
  });
});

describe('--user and an existing directory of root', { skip: needsRoot }, () => {
  it("an empty directory of root's (systemd's StateDirectory=) is handed to the --user account through its descriptor; a non-empty one is refused", async (t) => {
    const alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    mkdirSync(s.stateDir, { mode: 0o700 });
    const pid = await s.started(['--user', 'sdtalice']);
    assert.deepEqual([statSync(s.stateDir).uid, uidOf(pid)], [alice.uid, alice.uid]);
    assert.equal((await s.stop()).code, 0);

    const other = s.path('full');
    mkdirSync(other, { mode: 0o700 });
    writeFileSync(join(other, 'history.db'), '');
    assert.deepEqual(await s.cli(['start', '-c', s.crontabPath, '--state-dir', other, '--user', 'sdtalice']), refusal(`state directory ${other} is owned by uid 0 (expected ${alice.uid})`));
    assert.equal(statSync(other).uid, 0);
  });
});
