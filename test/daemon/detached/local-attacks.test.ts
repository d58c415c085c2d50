// A second look at a root schedd as a local attacker would take it (issue 11, items 1-4 and
// 7): each test is an attack that worked after the first round of fixes, run for real with a
// second user (sdtalice) and her own processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cliEnv, cliPath } from '../../helpers/cli.js';
import { hasExited } from '../../helpers/daemon.js';
import { cleanupAll, instance, sharedInstance as sharedTemp, type Instance } from '../../helpers/detached.js';
import { ensureUser, needsRoot, runAs, type TestUser } from '../../helpers/users.js';
import { waitUntil } from '../../helpers/wait.js';
import { commandLine } from '../../../src/runner/index.js';

after(cleanupAll);

const YEARLY = '# schedd: name=yearly\n0 0 1 1 * true\n';

const sharedInstance = (t: { after(fn: () => unknown): void }): Instance => sharedTemp(t, YEARLY);

/** A root-only secret, and the state directory made by root and handed to her, as `start --user` does. */
function secretAndHerStateDir(s: Instance, her: TestUser): string {
  const secret = s.write('secret', 'root only secret\n');
  chmodSync(secret, 0o600);
  mkdirSync(s.stateDir, { mode: 0o700 });
  chownSync(s.stateDir, her.uid, her.gid);
  return secret;
}

describe('a local user against a root schedd', { skip: needsRoot, concurrency: true }, () => {
  let alice: TestUser;
  const asAlice = (script: string): ReturnType<typeof runAs> => runAs(alice, 'sh', ['-c', script]);

  it("regression (issue 11 item 3): root's `schedd edit` of a crontab in a directory the user controls is refused before the editor opens (she could swap the directory for a link to /etc/schedd meanwhile)", async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    const hers = join(alice.home, `sdt-edit-${process.pid}`);
    assert.equal((await asAlice(`mkdir -p ${hers} && printf '* * * * * id\\n' > ${hers}/crontab`)).code, 0);
    t.after(() => void asAlice(`rm -rf ${hers}`));
    const marker = s.path('editor-ran');
    const editor = s.write('editor.sh', `#!/bin/sh\ntouch ${marker}\n`);
    chmodSync(editor, 0o755);
    const result = await s.cli(['edit', '-c', `${hers}/crontab`], { EDITOR: editor, VISUAL: editor });
    assert.equal(result.code, 1, JSON.stringify(result));
    assert.equal(result.stderr, `schedd: ${hers}/crontab: refused: directory ${alice.home} is owned by uid ${alice.uid} (expected 0); edit it as its owner (su - USER -c 'schedd edit -c FILE')\n`);
    assert.throws(() => readFileSync(marker), /ENOENT/, 'the editor was not started');
  });

  it('regression (issue 11 item 3): a crontab reached through a link that sits in a directory the user controls is refused, though the file at its end is root\'s', async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    mkdirSync(s.path('safe'), { mode: 0o755 });
    const real = s.write('safe/crontab', YEARLY);
    const link = join(alice.home, `sdt-link-${process.pid}`);
    assert.equal((await asAlice(`ln -s ${real} ${link}`)).code, 0);
    t.after(() => void asAlice(`rm -f ${link}`));
    symlinkSync(link, s.path('crontab-link'));
    const result = await s.cli(['check', s.path('crontab-link')]);
    assert.deepEqual(result, { code: 1, signal: null, stdout: '', stderr: `schedd: ${s.path('crontab-link')}: refused: directory ${alice.home} is owned by uid ${alice.uid} (expected 0)\n` });
    // The file itself, named directly, is fine.
    assert.equal((await s.cli(['check', real])).code, 0);
  });

  it("regression (issue 11 item 1): a --user account that writes one of root's pids into the pidfile cannot make root's `schedd stop` signal it", async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    const pid = await s.started(['--user', 'sdtalice']);
    const { schedulerPid } = await s.status();
    t.after(() => {
      for (const p of [pid, schedulerPid]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
    });
    // A root process whose command line says schedd.
    const victim = spawn('bash', ['-c', 'exec -a schedd-victim sleep 60'], { stdio: 'ignore' });
    t.after(() => victim.kill('SIGKILL'));
    await waitUntil('the victim to run', () => commandLine(victim.pid!)?.[0]?.startsWith('schedd-victim') === true);
    assert.equal((await asAlice(`cd ${s.stateDir} && rm schedd.sock && echo ${victim.pid} > pid.new && mv pid.new schedd.pid`)).code, 0);
    const result = await s.stop(['--timeout', '2s']);
    assert.equal(result.code, 1, JSON.stringify(result));
    assert.match(result.stderr, /^schedd: the daemon does not answer \(.*\) and its pidfile names no schedd process; check /);
    assert.equal(hasExited(victim.pid!), false, "root's process was signalled");
  });

  it("regression (issue 11 item 2): root's `schedd logs` does not follow a link the state directory's owner put where the log goes", async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    const secret = secretAndHerStateDir(s, alice);
    assert.equal((await asAlice(`ln -s ${secret} ${s.stateDir}/schedd.log`)).code, 0);
    const result = await s.cli(['logs', '--state-dir', s.stateDir]);
    // The client's look at the state directory refuses it first.
    assert.deepEqual(result, { code: 1, signal: null, stdout: '', stderr: `schedd: state directory ${s.stateDir}: ${s.logPath} is a symbolic link (expected a regular file; remove it)\n` });
    // A regular file of someone else's where the log goes is refused too.
    assert.equal((await asAlice(`rm ${s.stateDir}/schedd.log`)).code, 0);
    writeFileSync(s.logPath, '{"msg":"root wrote this"}\n');
    const foreign = await s.cli(['logs', '--state-dir', s.stateDir]);
    assert.deepEqual(foreign, { code: 1, signal: null, stdout: '', stderr: `schedd: state directory ${s.stateDir}: ${s.logPath} is owned by uid 0 (expected ${alice.uid}; remove it)\n` });
  });

  it("regression (issue 11 item 2): root's `schedd logs -f` does not follow the log into a link planted after it started", async (t) => {
    alice = ensureUser('sdtalice');
    const s = sharedInstance(t);
    const secret = secretAndHerStateDir(s, alice);
    assert.equal((await asAlice(`echo '{"level":30,"time":"2026-12-01T00:00:00.000Z","msg":"first"}' > ${s.logPath}`)).code, 0);
    const follower = spawn(process.execPath, [cliPath, 'logs', '-f', '--state-dir', s.stateDir], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => follower.kill('SIGKILL'));
    let out = '';
    let err = '';
    follower.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    follower.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const exited = new Promise<number | null>((resolve) => follower.once('exit', (code) => resolve(code)));
    await waitUntil('the follower to print the first record', () => out.includes('first'));
    // As logrotate would, but the new file is a link to root's secret.
    assert.equal((await asAlice(`cd ${s.stateDir} && mv schedd.log schedd.log.1 && ln -s ${secret} schedd.log && echo more >> schedd.log.1`)).code, 0);
    const code = await Promise.race([exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 3000))]);
    assert.equal(out.includes('root only secret'), false, out);
    if (code !== 'running') assert.match(err, /symbolic link/);
  });
});
