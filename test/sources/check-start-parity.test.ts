// Issue 12: `schedd check` refuses exactly what `schedd start` refuses, because both read and
// validate a crontab the same way (src/sources/). Each file here goes to both.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { runCli, type CliResult } from '../helpers/cli.js';
import { killAllDaemons, workspace, type DaemonProcess, type Workspace } from '../helpers/daemon.js';
import { ensureUser, isRoot, needsRoot } from '../helpers/users.js';

after(killAllDaemons);

/** `check`'s problem lines, without its summary line. */
function checkLines(check: CliResult): string[] {
  return check.stderr.split('\n').slice(0, -2);
}

/** The lines of a refused start's one error, without `schedd: ` and its closing verdict. */
function startRefusal(daemon: DaemonProcess): string[] {
  const lines = daemon.stderr.replace(/^schedd: /, '').split('\n');
  assert.equal(lines.pop(), '', daemon.stderr);
  return lines;
}

/** Feeds ws/crontab to both; both must refuse it, with these error lines. */
async function bothRefuse(ws: Workspace, errors: string[]): Promise<void> {
  const check = await runCli(['check', 'crontab'], { cwd: ws.dir });
  assert.equal(check.code, 1, check.stderr);
  assert.deepEqual(checkLines(check), errors);
  const daemon = ws.start();
  assert.equal((await daemon.waitExit(10_000)).code, 1);
  assert.deepEqual(startRefusal(daemon), [...errors, 'crontab: invalid, schedd did not start']);
}

/** Feeds ws/crontab to both; both must refuse to read it, with this one line. */
async function bothRefuseFile(ws: Workspace, refusal: string): Promise<void> {
  const check = await runCli(['check', 'crontab'], { cwd: ws.dir });
  assert.deepEqual(check, { code: 1, signal: null, stdout: '', stderr: `schedd: ${refusal}\n` });
  const daemon = ws.start();
  assert.equal((await daemon.waitExit(10_000)).code, 1);
  assert.equal(daemon.stderr, check.stderr);
}

/** Feeds ws/crontab to both; both must accept it with these warnings (the daemon logs them). */
async function bothAccept(ws: Workspace, jobs: number, warnings: string[]): Promise<DaemonProcess> {
  const check = await runCli(['check', 'crontab'], { cwd: ws.dir });
  const note = warnings.length === 0 ? '' : ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})`;
  assert.deepEqual([check.code, check.stdout, check.stderr], [0, `crontab: ok, ${jobs} job${jobs === 1 ? '' : 's'}${note}\n`, warnings.map((w) => `${w}\n`).join('')]);
  const daemon = ws.start();
  const started = await daemon.waitFor({ msg: 'schedd started' });
  assert.equal(started.jobs, jobs);
  const logged = daemon.all((r) => r.level === 40, 0).filter((r) => daemon.indexOf(r) < daemon.indexOf(started));
  assert.deepEqual(logged.map((r) => r.msg), warnings);
  return daemon;
}

describe('check and start agree', { concurrency: true }, () => {
  it('both refuse a job for a user that does not exist', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '# schedd: name=ghost user=sdtnosuchuser\n@daily true\n');
    // As root the user is looked up; otherwise no job may name another user at all.
    const error = isRoot
      ? "crontab:2:1: unknown user 'sdtnosuchuser' (expected an account on this machine)"
      : "crontab:2:1: cannot run jobs as 'sdtnosuchuser': schedd is not running as root (expected no user, or start schedd as root)";
    await bothRefuse(ws, [error]);
  });

  it('both refuse a crontab that root does not own, as root', { skip: needsRoot }, async (t) => {
    const bob = ensureUser('sdtbob');
    const ws = workspace(t);
    ws.write('crontab', '@daily true\n');
    chownSync(ws.path('crontab'), bob.uid, bob.gid);
    await bothRefuseFile(ws, `crontab: refused: owned by uid ${bob.uid} (expected root: a root schedd runs only root's crontabs, as cron does)`);
  });

  it('both refuse a group-writable crontab, as root', { skip: isRoot ? false : 'needs root' }, async (t) => {
    const ws = workspace(t);
    ws.write('crontab', '@daily true\n');
    chmodSync(ws.path('crontab'), 0o664);
    await bothRefuseFile(ws, 'crontab: refused: group- or world-writable (mode 664; expected no write bit for them: chmod go-w it)');
  });

  it('both accept a cwd that does not exist, with the same warning (its runs are the ones that fail)', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', `# schedd: name=nowhere cwd=${ws.path('missing')}\n@daily true\n`);
    const daemon = await bothAccept(ws, 1, [`crontab:2:1: warning: cwd ${ws.path('missing')} does not exist (runs fail to start until it does)`]);
    assert.equal(await daemon.stop(), 0);
  });

  it('both resolve a relative cwd against the crontab\'s folder', async (t) => {
    const ws = workspace(t);
    mkdirSync(ws.path('etc/sub'), { recursive: true });
    ws.write('etc/crontab', `# schedd: name=here cwd=sub\n@reboot pwd > ${ws.path('pwd.out')}\n# schedd: name=there cwd=nothere\n@daily true\n`);
    const warning = `etc/crontab:4:1: warning: cwd ${ws.path('etc/nothere')} does not exist (runs fail to start until it does)`;
    const check = await runCli(['check', 'etc/crontab'], { cwd: ws.dir });
    assert.deepEqual([check.code, check.stdout, check.stderr], [0, 'etc/crontab: ok, 2 jobs (1 warning)\n', `${warning}\n`]);
    const daemon = ws.start({ crontab: 'etc/crontab' });
    const started = await daemon.waitFor({ msg: 'schedd started' });
    assert.deepEqual(daemon.all((r) => r.level === 40).filter((r) => daemon.indexOf(r) < daemon.indexOf(started)).map((r) => r.msg), [warning]);
    await daemon.waitFor({ msg: 'job finished', job: 'here' });
    assert.equal(ws.read('pwd.out'), `${ws.path('etc/sub')}\n`);
    assert.equal(await daemon.stop(), 0);
  });
});
