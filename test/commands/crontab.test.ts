// `schedd crontab` end to end: a root daemon started with --cron serves users on crontab.sock;
// real users (useradd) run the built CLI as themselves (setpriv), and the spool files are read
// back. The daemon's own reading of the spool is not part of this: the files are checked here.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { cliPath, collect, runCli, type CliResult } from '../helpers/cli.js';
import { Workspace, type DaemonProcess } from '../helpers/daemon.js';
import { ensureUser, needsRoot, type TestUser } from '../helpers/users.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const fakeEditor = join(fixtures, 'commands', 'fake-editor.sh');
const forge = join(fixtures, 'spool', 'forge.mjs');

describe('schedd crontab', { skip: needsRoot }, () => {
  const ws = new Workspace();
  let daemon: DaemonProcess;
  let alice: TestUser;
  let bob: TestUser;
  const cronRoot = ws.path('root');
  const stateDir = ws.path('state');
  const spool = join(cronRoot, 'var', 'spool', 'cron', 'crontabs');
  const socket = join(stateDir, 'crontab.sock');

  /** Runs `node PROGRAM ARGS` as `user`, with `stdin` as its input. */
  const runAs = (user: TestUser, program: string, args: readonly string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> => {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', HOME: user.home, USER: user.name, LOGNAME: user.name, ...options.env };
    const child = spawn('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', process.execPath, program, ...args], { cwd: '/', env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => {});
    child.stdin.end(options.stdin ?? '');
    // collect() reads stdout and stderr only.
    return collect(child as unknown as Parameters<typeof collect>[0]);
  };
  const crontab = (user: TestUser, args: readonly string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> =>
    runAs(user, cliPath, ['crontab', '--state-dir', stateDir, '--cron-root', cronRoot, ...args], options);
  const ok = (stdout = '', stderr = ''): CliResult => ({ code: 0, signal: null, stdout, stderr });
  const failed = (stderr: string, code = 1, stdout = ''): CliResult => ({ code, signal: null, stdout, stderr });
  const table = (user: TestUser): string | null => (existsSync(join(spool, user.name)) ? readFileSync(join(spool, user.name), 'utf8') : null);
  /** A table file the user can read, in the workspace (others may pass through it, not list it). */
  let files = 0;
  const tableFile = (text: string): string => {
    const path = ws.path(`table-${++files}`);
    writeFileSync(path, text, { mode: 0o644 });
    return path;
  };
  const allowDeny = (allow?: string, deny?: string): void => {
    mkdirSync(join(cronRoot, 'etc'), { recursive: true });
    for (const [name, text] of [['cron.allow', allow], ['cron.deny', deny]] as const) {
      rmSync(join(cronRoot, 'etc', name), { force: true });
      if (text !== undefined) writeFileSync(join(cronRoot, 'etc', name), text);
    }
  };

  before(async () => {
    alice = ensureUser('sdtcal');
    bob = ensureUser('sdtcbo');
    // Users reach the socket by name through the workspace; they cannot list it.
    chmodSync(ws.dir, 0o711);
    mkdirSync(cronRoot);
    writeFileSync(ws.path('crontab'), '');
    daemon = ws.start({ args: ['--cron', '--cron-root', cronRoot] });
    await daemon.waitFor({ msg: 'schedd started' });
  });
  after(() => ws.cleanup());

  it('serves users from a state directory they may search, not read: 0711, crontab.sock 0666, nothing else open to them', () => {
    const dir = lstatSync(stateDir);
    assert.deepEqual([dir.uid, dir.mode & 0o7777], [0, 0o711]);
    const sock = lstatSync(socket);
    assert.deepEqual([sock.isSocket(), sock.uid, sock.mode & 0o777], [true, 0, 0o666]);
    const open = readdirSync(stateDir).filter((name) => !['crontab.sock', 'schedd.pid'].includes(name) && (lstatSync(join(stateDir, name)).mode & 0o007) !== 0);
    assert.deepEqual(open, []);
  });

  it('alice installs her table (owned by her, 0600, no temporary left), lists it exactly, and removes it', async () => {
    const text = '@daily /bin/true\n*/5 * * * * echo "five\tminutes"\n';
    assert.deepEqual(await crontab(alice, [tableFile(text)]), ok());
    const stat = lstatSync(join(spool, alice.name));
    assert.deepEqual([stat.isFile(), stat.uid, stat.gid, stat.mode & 0o7777, stat.nlink], [true, alice.uid, alice.gid, 0o600, 1]);
    assert.equal(table(alice), text);
    assert.deepEqual(readdirSync(spool).filter((name) => name.startsWith('.')), []);
    assert.deepEqual(await crontab(alice, ['-l']), ok(text));
    assert.deepEqual(await crontab(alice, ['-r']), ok());
    assert.equal(table(alice), null);
    assert.deepEqual(await crontab(alice, ['-l']), failed('no crontab for sdtcal\n'));
    assert.deepEqual(await crontab(alice, ['-r']), failed('no crontab for sdtcal\n'));
  });

  it('installs from standard input with -', async () => {
    assert.deepEqual(await crontab(alice, ['-'], { stdin: '@hourly /bin/true\n' }), ok());
    assert.equal(table(alice), '@hourly /bin/true\n');
  });

  it('refuses an invalid table with every error as FILE:LINE:COL, and installs nothing', async () => {
    assert.deepEqual(await crontab(alice, ['-'], { stdin: '@weekly /bin/true\n' }), ok());
    const file = tableFile('61 * * * * /bin/true\n@daily /bin/true\n* * * * 1-5,8 /bin/true\n');
    const result = await crontab(alice, [file]);
    assert.deepEqual(result, failed(`${file}:1:1: invalid minute '61' (expected 0-59)\n${file}:3:13: invalid day-of-week '8' (expected 0-7 or a name sun-sat)\nerrors in crontab file, can't install.\n`));
    assert.equal(table(alice), '@weekly /bin/true\n');
  });

  it("alice cannot read, replace or remove bob's table: -u is refused, whatever follows it", async () => {
    const bobs = '@daily echo bob\n';
    assert.deepEqual(await crontab(bob, [tableFile(bobs)]), ok());
    const before = lstatSync(join(spool, bob.name)).ino;
    for (const args of [['-u', bob.name, '-l'], ['-u', bob.name, '-r'], ['-u', bob.name, tableFile('@daily echo alice\n')], ['-u', alice.name, '-l']]) {
      assert.deepEqual(await crontab(alice, args), failed('must be privileged to use -u\n'), args.join(' '));
    }
    assert.equal(table(bob), bobs);
    assert.equal(lstatSync(join(spool, bob.name)).ino, before);
  });

  it("alice cannot pass for bob on the socket: his table as the proof, links to his files, the daemon's descriptors, a relayed proof", async () => {
    const bobs = '@daily echo bob again\n';
    assert.deepEqual(await crontab(bob, [tableFile(bobs)]), ok());
    // A proof file of bob's own, as bob's client would leave it for a moment.
    const bobDir = `/tmp/schedd-crontab-test-${process.pid}`;
    rmSync(bobDir, { recursive: true, force: true });
    const mk = spawn('setpriv', [`--reuid=${bob.uid}`, `--regid=${bob.gid}`, '--init-groups', '--', 'sh', '-c', 'umask 077; mkdir "$1" && echo x > "$1/proof"', 'sh', bobDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal((await collect(mk)).code, 0);
    const refused = { ok: false, error: { code: 'SCHEDD_CRONTAB_PROOF', message: 'cannot establish who you are: the proof file was refused (expected a regular file of yours, mode 600, one link, in a private directory of /tmp, holding the proof for this connection)' } };
    const attempts: string[][] = [
      ['path', join(spool, bob.name)],
      ['path', `${bobDir}/proof`],
      ['symlink', `${bobDir}/proof`],
      ['symlink', join(spool, bob.name)],
      ['symlink', 'own'],
      ['replay'],
      ...[0, 1, 2, 3, 10, 20].map((fd) => ['path', `/proc/self/fd/${fd}`]),
      ['path', '/proc/1/root/tmp/x'],
      ['path', '/dev/watchdog'],
    ];
    for (const attempt of attempts) {
      const result = await runAs(alice, forge, [socket, cronRoot, ...attempt]);
      assert.deepEqual([result.code, JSON.parse(result.stdout) as unknown], [0, refused], attempt.join(' '));
    }
    rmSync(bobDir, { recursive: true, force: true });
    assert.equal(table(bob), bobs);
    // The same harness, honest, does install: the refusals above are the proofs', not the harness's.
    const honest = await runAs(alice, forge, [socket, cronRoot, 'install', '@monthly echo forged-harness\n']);
    assert.equal((JSON.parse(honest.stdout) as { ok: boolean }).ok, true);
    assert.equal(table(alice), '@monthly echo forged-harness\n');
    assert.equal(table(bob), bobs);
  });

  it('cron.allow: only those listed; cron.deny: all but those listed; cron.allow wins', async () => {
    try {
      allowDeny(`${alice.name}\n`);
      assert.deepEqual(await crontab(alice, ['-l']), ok(table(alice)!));
      assert.deepEqual(await crontab(bob, ['-l']), failed(`schedd: You (${bob.name}) are not allowed to use this program (crontab)\n`));
      assert.deepEqual(await crontab(bob, ['-r']), failed(`schedd: You (${bob.name}) are not allowed to use this program (crontab)\n`));
      assert.notEqual(table(bob), null);
      allowDeny(undefined, `${alice.name}\n`);
      assert.deepEqual(await crontab(alice, ['-'], { stdin: '@daily echo denied\n' }), failed(`schedd: You (${alice.name}) are not allowed to use this program (crontab)\n`));
      assert.notEqual(table(alice), '@daily echo denied\n');
      assert.equal((await crontab(bob, ['-l'])).code, 0);
      allowDeny(`${alice.name}\n`, `${alice.name}\n`);
      assert.equal((await crontab(alice, ['-l'])).code, 0);
    } finally {
      allowDeny();
    }
  });

  it('-r -i asks first: no keeps the table, yes removes it', async () => {
    assert.deepEqual(await crontab(alice, ['-'], { stdin: '@daily /bin/true\n' }), ok());
    assert.deepEqual(await crontab(alice, ['-r', '-i'], { stdin: 'n\n' }), ok(`crontab: really delete ${alice.name}'s crontab? (y/n) `));
    assert.equal(table(alice), '@daily /bin/true\n');
    assert.deepEqual(await crontab(alice, ['-ri'], { stdin: 'y\n' }), ok(`crontab: really delete ${alice.name}'s crontab? (y/n) `));
    assert.equal(table(alice), null);
  });

  it('-e: the editor gets the table, an invalid save is refused and offered again, the valid one installed', async () => {
    assert.deepEqual(await crontab(alice, ['-'], { stdin: '@daily /bin/true\n' }), ok());
    const base = join(alice.home, `edit-${process.pid}`);
    const invalid = '@daily /bin/true\n* 25 * * * /bin/true\n';
    const valid = '@daily /bin/true\n* 23 * * * /bin/true\n';
    writeFileSync(`${base}.1`, invalid);
    writeFileSync(`${base}.2`, valid);
    const result = await crontab(alice, ['-e'], { stdin: 'y\n', env: { EDITOR: `${fakeEditor} ${base}` } });
    const calls = readFileSync(`${base}.calls`, 'utf8').trimEnd().split('\n');
    const editFile = calls[0]!.split(' ')[0]!;
    assert.deepEqual(result, {
      code: 0,
      signal: null,
      stdout: 'Do you want to retry the same edit? (y/n) ',
      stderr: `${editFile}:2:3: invalid hour '25' (expected 0-23)\nerrors in crontab file, can't install.\ncrontab: installing new crontab\n`,
    });
    assert.deepEqual([readFileSync(`${base}.seen.1`, 'utf8'), readFileSync(`${base}.seen.2`, 'utf8')], ['@daily /bin/true\n', invalid]);
    assert.equal(table(alice), valid);
    assert.equal(existsSync(editFile), false);
  });

  it('a cron root the daemon does not serve, or no daemon at all: one line that says what to do', async () => {
    const other = await runAs(alice, cliPath, ['crontab', '--state-dir', stateDir, '--cron-root', '/srv/other', '-l']);
    assert.deepEqual(other, failed(`schedd: this daemon serves the cron root ${cronRoot}, not /srv/other (give --cron-root ${cronRoot}, or --state-dir of the daemon that serves /srv/other)\n`));
    const none = await runAs(alice, cliPath, ['crontab', '--cron-root', cronRoot, '-l'], { env: { SCHEDD_STATE_DIR: ws.path('no-daemon') } });
    assert.deepEqual(
      none,
      failed(`schedd: no schedd daemon serves users' crontabs at ${ws.path('no-daemon')}/crontab.sock (no such socket); root starts one with \`schedd start --cron\`, and --state-dir DIR or SCHEDD_STATE_DIR points at its state directory\n`, 3),
    );
  });

  it('root works on the spool itself, -u USER included, and through a link named crontab', async () => {
    const bin = ws.path('bin');
    mkdirSync(bin);
    symlinkSync(cliPath, join(bin, 'crontab'));
    const file = tableFile('@daily echo from root\n');
    assert.deepEqual(await runCli(['crontab', '--cron-root', cronRoot, '-u', bob.name, file]), ok());
    assert.equal(lstatSync(join(spool, bob.name)).uid, bob.uid);
    const listed = await collect(spawn(process.execPath, [join(bin, 'crontab'), '--cron-root', cronRoot, '-u', bob.name, '-l'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.deepEqual(listed, ok('@daily echo from root\n'));
    assert.deepEqual(await runCli(['crontab', '--cron-root', cronRoot, '-u', 'sdtnosuchuser', '-l']), failed("schedd: user 'sdtnosuchuser' unknown\n"));
  });
});
