import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { killAllDaemons, workspace, type Workspace } from '../helpers/daemon.js';
import { ensureUser, needsRoot } from '../helpers/users.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

/**
 * `--cron`: the machine's tables, by cron's rules, with real users, real owners and modes, and a
 * real daemon firing every second. Each job appends to its own file in `out/`; a table that
 * must not run has a file that must never appear.
 */

interface CronRoot {
  root: string;
  out: string;
  cronD: string;
  spool: string;
  /** Writes a table as root, mode 0644 (cron.d) or as given. */
  write(path: string, text: string, mode?: number): string;
  lines(name: string): string[];
}

function cronRoot(ws: Workspace): CronRoot {
  // Other users' jobs write to out/, and must reach it.
  chmodSync(ws.dir, 0o755);
  const root = join(ws.dir, 'root');
  const out = join(ws.dir, 'out');
  const cronD = join(root, 'etc/cron.d');
  const spool = join(root, 'var/spool/cron/crontabs');
  mkdirSync(cronD, { recursive: true });
  mkdirSync(spool, { recursive: true });
  mkdirSync(out);
  chmodSync(out, 0o1777);
  return {
    root,
    out,
    cronD,
    spool,
    write(path, text, mode = 0o644) {
      writeFileSync(`${path}.new`, text, { mode });
      chmodSync(`${path}.new`, mode);
      renameSync(`${path}.new`, path);
      return path;
    },
    lines: (name) => ws.lines(join('out', name)),
  };
}

/** A job line of a system table: every second, as `user`, appending `what` to out/NAME. */
const every = (out: string, name: string, user: string | null, what: string): string => `* * * * * * ${user === null ? '' : `${user} `}echo "${what}" >> ${join(out, name)}\n`;

describe('--cron: the machine tables, by cron rules', { skip: needsRoot }, () => {
  it('runs /etc/crontab, cron.d and spool tables with their own environment, as their users; refuses what cron refuses', async (t) => {
    const ws = workspace(t);
    const c = cronRoot(ws);
    const alice = ensureUser('sdtcronalice');
    const bob = ensureUser('sdtcronbob');
    const { out } = c;
    c.write(join(c.root, 'etc/crontab'), `SHELL=/bin/sh\nFOO=from-crontab\n${every(out, 'crontab', 'root', '$FOO|$LOGNAME|$USER|$HOME|$SHELL|$PATH')}`);
    // A cron.d file does not inherit /etc/crontab's FOO; its user gets cron's environment.
    c.write(join(c.cronD, 'app'), every(out, 'app', alice.name, '${FOO-unset}|$LOGNAME|$USER|$HOME|$SHELL|$PATH|$(id -un)'));
    // An unknown user's entry is skipped; the table's other entries run.
    c.write(join(c.cronD, 'ghost'), every(out, 'ghost-user', 'sdtnosuchuser', 'x') + every(out, 'ghost-root', 'root', 'root ran'));
    // nobody's home (/nonexistent) does not exist: the job still runs, in /.
    c.write(join(c.cronD, 'nobody'), every(out, 'nobody', 'nobody', '$(pwd)'));
    // Names cron skips.
    for (const name of ['backup.sh', 'php.dpkg-old', '.placeholder', 'certbot~']) c.write(join(c.cronD, name), every(out, 'skipped', 'root', name));
    // Insecure system tables: group-writable, not root's, two links, a link to someone else's file.
    c.write(join(c.cronD, 'writable'), every(out, 'writable', 'root', 'x'), 0o664);
    chownSync(c.write(join(c.cronD, 'owned'), every(out, 'owned', 'root', 'x')), alice.uid, alice.gid);
    linkSync(c.write(join(c.cronD, 'linked'), every(out, 'linked', 'root', 'x')), join(ws.dir, 'second-name'));
    const theirs = join(alice.home, 'table');
    writeFileSync(theirs, every(out, 'symlink-bad', 'root', 'x'));
    chownSync(theirs, alice.uid, alice.gid);
    symlinkSync(theirs, join(c.cronD, 'symlinkbad'));
    // A link and a target that are root's are fine.
    symlinkSync(c.write(join(ws.dir, 'target'), every(out, 'symlink-ok', 'root', 'ok')), join(c.cronD, 'symlinkok'));
    // Spool: alice's own table runs as alice; bob's owned by alice, a 0644 one and a link do not.
    const spool = (user: string, text: string, owner: { uid: number; gid: number }, mode = 0o600): string => {
      const path = c.write(join(c.spool, user), text, mode);
      chownSync(path, owner.uid, owner.gid);
      return path;
    };
    spool(alice.name, `# schedd: name=mine\n${every(out, 'spool-alice', null, '$(id -un)|$HOME')}`, alice);
    spool(bob.name, every(out, 'spool-bob', null, 'x'), alice);
    const open = ensureUser('sdtcronopen');
    spool(open.name, every(out, 'spool-open', null, 'x'), open, 0o644);
    const linkedUser = ensureUser('sdtcronlink');
    writeFileSync(join(ws.dir, 'lt'), every(out, 'spool-link', null, 'x'));
    chownSync(join(ws.dir, 'lt'), linkedUser.uid, linkedUser.gid);
    symlinkSync(join(ws.dir, 'lt'), join(c.spool, linkedUser.name));

    const daemon = ws.start({ crontab: null, args: ['--cron', '--cron-root', c.root] });
    await daemon.waitFor({ msg: 'schedd started' });
    const expected = ['crontab', 'app', 'ghost-root', 'nobody', 'symlink-ok', 'spool-alice'];
    await waitUntil('every secure table to run', () => expected.every((name) => c.lines(name).length >= 2), 15_000);
    assert.equal(c.lines('crontab')[0], 'from-crontab|root|root|/root|/bin/sh|/usr/bin:/bin');
    assert.equal(c.lines('app')[0], `unset|${alice.name}|${alice.name}|${alice.home}|/bin/sh|/usr/bin:/bin|${alice.name}`);
    assert.equal(c.lines('nobody')[0], '/');
    assert.equal(c.lines('spool-alice')[0], `${alice.name}|${alice.home}`);
    for (const name of ['skipped', 'ghost-user', 'writable', 'owned', 'linked', 'symlink-bad', 'spool-bob', 'spool-open', 'spool-link']) assert.equal(existsSync(join(out, name)), false, `${name} must not run`);
    // Each refusal is logged once, with the file and the reason.
    const refusals = daemon.all({ reason: 'refused' }).map((r) => r.msg);
    assert.deepEqual(refusals.sort(), [
      `${join(c.cronD, 'linked')}: refused: 2 hard links (expected 1: another name could change it); cron would not run it either; its entries do not run`,
      `${join(c.cronD, 'owned')}: refused: owned by uid ${alice.uid} (expected root); cron would not run it either; its entries do not run`,
      `${join(c.cronD, 'symlinkbad')}: refused: owned by uid ${alice.uid} (expected root); cron would not run it either; its entries do not run`,
      `${join(c.cronD, 'writable')}: refused: writable by group or others (mode 664; expected no write bit for them: chmod go-w); cron would not run it either; its entries do not run`,
      `${join(c.spool, bob.name)}: refused: owned by uid ${alice.uid} (expected ${bob.name}'s, uid ${bob.uid}); cron would not run it either; its entries do not run`,
      `${join(c.spool, linkedUser.name)}: refused: a symbolic link (a user table is opened without following links); cron would not run it either; its entries do not run`,
      `${join(c.spool, open.name)}: refused: mode 644 (expected 600); cron would not run it either; its entries do not run`,
    ].sort());
    assert.ok(daemon.all({ msg: `${join(c.cronD, 'ghost')}:1:13: warning: unknown user 'sdtnosuchuser': entry skipped until the user exists` }).length >= 1);

    // Ids carry the table; the list groups by table and shows the skipped names with --all.
    const list = await runCli(['list', '--cron', '--cron-root', c.root, '--all', '--json', '--state-dir', join(ws.dir, 'state')]);
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { jobs: { id: string; table?: string; next: string | null }[]; skipped: { path: string }[]; refused: { path: string }[] };
    assert.deepEqual([...new Set(listed.jobs.map((job) => job.table))], ['crontab', 'cron.d/app', 'cron.d/ghost', 'cron.d/nobody', 'cron.d/symlinkok', `user/${alice.name}`]);
    assert.ok(listed.jobs.every((job) => job.id.startsWith(`${job.table}:`) && job.next !== null));
    assert.ok(listed.jobs.some((job) => job.id === `user/${alice.name}:mine`));
    assert.deepEqual(listed.skipped.map((file) => file.path).sort(), ['.placeholder', 'backup.sh', 'certbot~', 'php.dpkg-old'].map((name) => join(c.cronD, name)).sort());
    assert.equal(listed.refused.length, 7);
    const status = await runCli(['status', '--state-dir', join(ws.dir, 'state')]);
    assert.match(status.stdout, new RegExp(`cron tables: 13 under ${c.root} \\(\\d+ jobs, 7 refused\\)`));
    assert.match(status.stdout, /cron\.d\/writable +refused, not run: refused: writable by group or others/);
    // The history of one table.
    const history = await runCli(['history', '--table', 'cron.d/app', '--json', '--state-dir', join(ws.dir, 'state')]);
    const runs = JSON.parse(history.stdout) as { job: string }[];
    assert.ok(runs.length > 0);
    assert.deepEqual([...new Set(runs.map((run) => run.job.slice(0, run.job.indexOf(':'))))], ['cron.d/app']);
  });

  it('reloads each table on its own: an error keeps its entries, a fix or a new file is live without a signal, an insecure one stops at once', async (t) => {
    const ws = workspace(t);
    const c = cronRoot(ws);
    const alice = ensureUser('sdtcronalice');
    c.write(join(c.cronD, 'a'), every(c.out, 'a1', 'root', 'a'));
    c.write(join(c.cronD, 'b'), every(c.out, 'b1', 'root', 'b'));
    const daemon = ws.start({ crontab: null, args: ['--cron', '--cron-root', c.root] });
    await daemon.waitFor({ msg: 'schedd started' });
    await waitUntil('both tables to run', () => c.lines('a1').length > 0 && c.lines('b1').length > 0, 10_000);
    // An invalid a: its entries keep running; b changes at the same time and is applied.
    const before = daemon.records.length;
    c.write(join(c.cronD, 'a'), `${every(c.out, 'a1', 'root', 'a')}61 * * * * root echo bad\n`);
    c.write(join(c.cronD, 'b'), every(c.out, 'b2', 'root', 'b'));
    await daemon.waitFor({ msg: `reload rejected: ${join(c.cronD, 'a')}:2:1: invalid minute '61' (expected 0-59)` }, 10_000, before);
    await daemon.waitFor((r) => r.msg === 'crontab reloaded' && Array.isArray(r.changed) === true && JSON.stringify(r).includes('cron.d/b:'), 10_000, before);
    const a1 = c.lines('a1').length;
    await waitUntil('a to keep running and b to run its new entry', () => c.lines('a1').length > a1 + 1 && c.lines('b2').length > 0, 10_000);
    const status = await runCli(['status', '--json', '--state-dir', join(ws.dir, 'state')]);
    const sources = (JSON.parse(status.stdout) as { sources: { id: string; jobs: number; problem?: { kind: string; count: number } }[] }).sources;
    assert.deepEqual(sources.find((s) => s.id === 'cron.d/a'), { id: 'cron.d/a', path: join(c.cronD, 'a'), jobs: 1, problem: { kind: 'invalid', messages: [`${join(c.cronD, 'a')}:2:1: invalid minute '61' (expected 0-59)`], count: 1 } });
    // A new table is live, and made insecure it stops: no run starts after the refusal.
    c.write(join(c.cronD, 'fresh'), every(c.out, 'fresh', 'root', 'fresh'));
    await waitUntil('the new table to run', () => c.lines('fresh').length > 0, 10_000);
    const refusedFrom = daemon.records.length;
    chmodSync(join(c.cronD, 'fresh'), 0o666);
    await daemon.waitFor({ reason: 'refused' }, 10_000, refusedFrom);
    await daemon.waitFor((r) => r.msg === 'crontab reloaded' && JSON.stringify(r.removed).includes('cron.d/fresh:'), 10_000, refusedFrom);
    // Runs already started may still write; none starts after: count, wait two slots, compare.
    await new Promise((settle) => setTimeout(settle, 300));
    const fresh = c.lines('fresh').length;
    const b2 = c.lines('b2').length;
    await waitUntil('two more slots of b', () => c.lines('b2').length >= b2 + 2, 10_000);
    assert.equal(c.lines('fresh').length, fresh, 'an insecure table never runs');
    // A spool table whose user does not exist waits, and runs once the user is created.
    const name = `sdtcronlate${process.pid % 1000}`;
    try {
      execFileSync('userdel', ['-r', name], { stdio: 'ignore' });
    } catch {
      // not there
    }
    writeFileSync(join(c.spool, name), every(c.out, 'late', null, '$(id -un)'), { mode: 0o600 });
    await daemon.waitFor({ msg: `${join(c.spool, name)}: skipped: user '${name}' does not exist (the table runs once the user exists); its entries do not run` }, 10_000);
    t.after(() => execFileSync('userdel', ['-r', name], { stdio: 'ignore' }));
    const late = ensureUser(name);
    chownSync(join(c.spool, name), late.uid, late.gid);
    await waitUntil("the late user's table to run", () => c.lines('late').length > 0, 15_000);
    assert.equal(c.lines('late')[0], name);
    void alice;
  });

  it('check --cron judges every table as start does, and a system table read without --system gets a warning that names the flag', async (t) => {
    const ws = workspace(t);
    const c = cronRoot(ws);
    c.write(join(c.root, 'etc/crontab'), '17 * * * * root cd / && run-parts --report /etc/cron.hourly\n');
    c.write(join(c.cronD, 'good'), '0 3 * * * root /usr/bin/true\n');
    c.write(join(c.cronD, 'bad'), '0 3 * * * root /usr/bin/true\n61 * * * * root x\n');
    c.write(join(c.cronD, 'open'), '0 3 * * * root x\n', 0o666);
    c.write(join(c.cronD, 'skip.dpkg-old'), 'garbage\n');
    const check = await runCli(['check', '--cron', '--cron-root', c.root]);
    assert.equal(check.code, 1);
    assert.equal(check.stdout, `${join(c.root, 'etc/crontab')}: ok, 1 job\n${join(c.cronD, 'good')}: ok, 1 job\n`);
    assert.equal(
      check.stderr,
      [
        `${join(c.cronD, 'bad')}:2:1: invalid minute '61' (expected 0-59)`,
        `${join(c.cronD, 'bad')}: 1 error, 0 warnings`,
        `${join(c.cronD, 'open')}: refused: writable by group or others (mode 666; expected no write bit for them: chmod go-w); cron would not run it either`,
        `cron tables under ${c.root}: 4 tables, 2 ok, 1 with errors, 1 refused (2 jobs run)`,
        '',
      ].join('\n'),
    );
    const plain = await runCli(['check', join(c.root, 'etc/crontab')]);
    assert.equal(plain.code, 0);
    assert.equal(plain.stderr, `${join(c.root, 'etc/crontab')}:1:12: warning: 'root' looks like the user column of a system table (/etc/crontab, /etc/cron.d): read it with --system, or the machine's tables with --cron; as it is, 'root' is the command\n`);
    // Another system user is known from the machine's accounts.
    const www = join(ws.dir, 'www');
    writeFileSync(www, '0 3 * * * www-data /usr/bin/php /srv/cron.php\n');
    const other = await runCli(['check', www]);
    assert.match(other.stderr, /www:1:1: warning: this looks like a system crontab line \('www-data' is a user, then the command\)/);
  });
});

void rmSync;
