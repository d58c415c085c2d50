// Who is on the other end of crontab.sock: every way to present a file that another user could
// not have written must be refused (run as root, with real users, as the daemon runs).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { verifyProof } from '../../src/spool/proof.js';
import { ensureUser, needsRoot, type TestUser } from '../helpers/users.js';

const TEXT = 'schedd-crontab-proof/1 nonce digest\n';

/** Runs a shell script as `user` (uid, gid, groups), to make files the way they could. */
function as(user: TestUser, script: string, ...args: string[]): void {
  execFileSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'sh', '-c', `umask 077; ${script}`, 'sh', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

describe('proof of identity (crontab.sock)', { skip: needsRoot }, () => {
  let alice: TestUser;
  let bob: TestUser;
  const dirs: string[] = [];
  let n = 0;
  /** A fresh directory /tmp/NAME made by `owner` with mode 700. */
  const privateDir = (owner: TestUser): string => {
    const dir = `/tmp/schedd-proof-test-${process.pid}-${++n}`;
    dirs.push(dir);
    as(owner, 'mkdir -m 700 "$1"', dir);
    return dir;
  };
  /** Alice's proof, written as she would; returns its path. */
  const aliceProof = (text = TEXT): string => {
    const dir = privateDir(alice);
    as(alice, 'printf %s "$2" > "$1/proof"', dir, text);
    return `${dir}/proof`;
  };

  before(() => {
    alice = ensureUser('sdtcal');
    bob = ensureUser('sdtcbo');
  });
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("accepts the caller's own file and names their uid (the harness can succeed)", async () => {
    assert.deepEqual(await verifyProof(aliceProof(), TEXT), { ok: true, uid: alice.uid });
  });

  it('refuses a file that does not hold this connection\'s proof (bob\'s file, an old proof)', async () => {
    const dir = privateDir(bob);
    as(bob, 'printf %s "bob was here" > "$1/notes"', dir);
    assert.deepEqual(await verifyProof(`${dir}/notes`, TEXT), { ok: false, reason: "does not hold this connection's proof" });
    assert.deepEqual(await verifyProof(aliceProof('schedd-crontab-proof/1 other digest\n'), TEXT), { ok: false, reason: "does not hold this connection's proof" });
  });

  it('refuses a symbolic link, to her own proof or to bob\'s, and a linked directory', async () => {
    const proof = aliceProof();
    const dir = privateDir(alice);
    as(alice, 'ln -s "$2" "$1/proof"', dir, proof);
    assert.deepEqual(await verifyProof(`${dir}/proof`, TEXT), { ok: false, reason: 'not a regular file' });
    const bobDir = privateDir(bob);
    as(bob, 'printf %s "$2" > "$1/proof"', bobDir, TEXT);
    const link = `/tmp/schedd-proof-test-${process.pid}-link`;
    dirs.push(link);
    as(alice, 'ln -s "$1" "$2"', bobDir, link);
    assert.deepEqual(await verifyProof(`${link}/proof`, TEXT), { ok: false, reason: 'ENOTDIR' });
  });

  it('refuses a hard link (nlink 2), even to her own file', async () => {
    const proof = aliceProof();
    as(alice, 'ln "$1" "$1.again"', proof);
    assert.deepEqual(await verifyProof(proof, TEXT), { ok: false, reason: '2 hard links (expected 1)' });
  });

  it("refuses a file of bob's made to sit in alice's directory (root chowned it: the owners differ)", async () => {
    const proof = aliceProof();
    execFileSync('chown', [`${bob.uid}:${bob.gid}`, proof]);
    assert.deepEqual(await verifyProof(proof, TEXT), { ok: false, reason: 'its directory is not private to its owner (expected mode 700, same owner)' });
  });

  it('refuses open modes on the file or its directory', async () => {
    const proof = aliceProof();
    as(alice, 'chmod 640 "$1"', proof);
    assert.deepEqual(await verifyProof(proof, TEXT), { ok: false, reason: 'readable or writable by group or others (expected mode 600)' });
    const other = aliceProof();
    as(alice, 'chmod 711 "$(dirname "$1")"', other);
    assert.deepEqual(await verifyProof(other, TEXT), { ok: false, reason: 'its directory is not private to its owner (expected mode 700, same owner)' });
  });

  it('refuses a FIFO without opening it (no hang) and a large file without reading it', async () => {
    const dir = privateDir(alice);
    as(alice, 'mkfifo -m 600 "$1/proof"', dir);
    const started = performance.now();
    assert.deepEqual(await verifyProof(`${dir}/proof`, TEXT), { ok: false, reason: 'not a regular file' });
    assert.ok(performance.now() - started < 2000);
    const big = privateDir(alice);
    as(alice, 'printf %s "$2" > "$1/proof"; head -c 10000000 /dev/zero >> "$1/proof"', big, TEXT);
    assert.deepEqual(await verifyProof(`${big}/proof`, TEXT), { ok: false, reason: 'too large' });
  });

  it("refuses root's file, and every path not of the form /tmp/DIR/FILE: the daemon's own descriptors, devices, ..", async () => {
    const dir = `/tmp/schedd-proof-test-${process.pid}-root`;
    dirs.push(dir);
    mkdirSync(dir, { mode: 0o700 });
    execFileSync('sh', ['-c', 'umask 077; printf %s "$2" > "$1/proof"', 'sh', dir, TEXT]);
    assert.deepEqual(await verifyProof(`${dir}/proof`, TEXT), { ok: false, reason: "root's file (root edits the spool directly)" });
    const shape = { ok: false, reason: 'not of the form /tmp/DIR/FILE' };
    const proof = aliceProof();
    for (const path of ['/proc/self/fd/0', '/dev/watchdog', '/dev/null', `${proof}/`, proof.replace('/tmp/', '/tmp/../tmp/'), `/tmp/./${proof.slice(5)}`, '/tmp/x/../proof', `/var${proof}`, '/tmp//proof']) {
      assert.deepEqual(await verifyProof(path, TEXT), shape, path);
    }
  });
});
