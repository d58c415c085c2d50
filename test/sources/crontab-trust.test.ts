// Issue 11 items 3 and 4: a root schedd runs only crontabs that root alone controls, judged from
// the very descriptor it reads them from.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { killAllDaemons, workspace, type DaemonProcess, type Workspace } from '../helpers/daemon.js';
import { swapLoop } from '../helpers/exchange.js';
import { ensureUser, needsRoot } from '../helpers/users.js';

after(killAllDaemons);

/** Resolves with the exit, or null if the daemon is still running after `ms` (the marker decides). */
async function exitWithin(daemon: DaemonProcess, ms: number): Promise<{ code: number | null } | null> {
  return daemon.waitExit(ms).catch(() => null);
}

/** A directory the test users can traverse (the workspace is 0700) and write to, for markers. */
function sharedOut(ws: Workspace): string {
  chmodSync(ws.dir, 0o711);
  mkdirSync(ws.path('out'), { mode: 0o777 });
  chmodSync(ws.path('out'), 0o1777);
  return ws.path('out');
}

describe('crontab trust as root', { skip: needsRoot, concurrency: true }, () => {
  it('regression (issue 11 item 3): a --system crontab swapped with renameat2(RENAME_EXCHANGE) by the directory\'s owner never runs her job as root', async (t) => {
    const mallory = ensureUser('sdtmallory');
    const ws = workspace(t);
    const out = sharedOut(ws);
    const drop = ws.path('drop');
    mkdirSync(drop, { mode: 0o755 });
    chownSync(drop, mallory.uid, mallory.gid);
    // Root's file, root's mode: what the old stat-by-path saw.
    writeFileSync(`${drop}/crontab`, '# schedd: name=tick\n* * * * * * root true\n', { mode: 0o644 });
    // Hers: the same job name, her command, as root.
    writeFileSync(`${drop}/evil`, `# schedd: name=tick\n* * * * * * root id -u >> ${out}/pwned\n`, { mode: 0o644 });
    chownSync(`${drop}/evil`, mallory.uid, mallory.gid);
    const daemon = ws.start({ crontab: 'drop/crontab', args: ['--system'] });
    const early = await Promise.race([daemon.exited, daemon.waitFor({ msg: 'schedd started' }).then(() => null, () => null)]);
    if (early === null) {
      // Still running (the old code): race the swap against reloads for up to 20 s.
      const swapper = swapLoop(mallory, `${drop}/crontab`, `${drop}/evil`);
      t.after(() => swapper.kill('SIGKILL'));
      const giveUpAt = Date.now() + 20_000;
      while (!existsSync(`${out}/pwned`) && Date.now() < giveUpAt && (await exitWithin(daemon, 30)) === null) daemon.signal('SIGHUP');
      swapper.kill('SIGKILL');
    }
    assert.equal(existsSync(`${out}/pwned`), false, `her job ran as root: ${existsSync(`${out}/pwned`) ? ws.read('out/pwned') : ''}`);
    const exit = await daemon.waitExit(5000);
    assert.equal(exit.code, 1);
    assert.equal(daemon.stderr, `schedd: drop/crontab: refused: directory ${drop} is owned by uid ${mallory.uid} (expected 0)\n`);
    // check refuses what start refuses.
    const check = await runCli(['check', '--system', 'drop/crontab'], { cwd: ws.dir });
    assert.deepEqual(check, { code: 1, signal: null, stdout: '', stderr: daemon.stderr });
  });

  it('regression (issue 11 item 3): once the directory is hers, reloads raced by her swaps are refused and never run her job as root', async (t) => {
    const mallory = ensureUser('sdtmallory');
    const ws = workspace(t);
    const out = sharedOut(ws);
    const drop = ws.path('drop');
    mkdirSync(drop, { mode: 0o755 });
    writeFileSync(`${drop}/crontab`, '# schedd: name=tick\n* * * * * * root true\n', { mode: 0o644 });
    const daemon = ws.start({ crontab: 'drop/crontab', args: ['--system'] });
    await daemon.waitFor({ msg: 'schedd started' });
    // The directory changes hands (a careless chown): she plants her file and swaps.
    chownSync(drop, mallory.uid, mallory.gid);
    writeFileSync(`${drop}/evil`, `# schedd: name=tick\n* * * * * * root id -u >> ${out}/pwned\n`, { mode: 0o644 });
    chownSync(`${drop}/evil`, mallory.uid, mallory.gid);
    const swapper = swapLoop(mallory, `${drop}/crontab`, `${drop}/evil`);
    t.after(() => swapper.kill('SIGKILL'));
    const from = daemon.records.length;
    // On the old code (a read, then a stat, by path) her job ran as root after 23 to 144 reloads.
    const giveUpAt = Date.now() + 15_000;
    let hups = 0;
    while (!existsSync(`${out}/pwned`) && Date.now() < giveUpAt) {
      daemon.signal('SIGHUP');
      hups++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    swapper.kill('SIGKILL');
    assert.equal(existsSync(`${out}/pwned`), false, `her job ran as root after ${hups} reloads`);
    const refused = daemon.all({ msg: 'reload failed: keeping the current schedule' }, from);
    assert.ok(refused.length > 0, 'no reload was refused');
    // Whichever file the one open got, it is refused: hers by its owner, root's by its directory.
    const reasons = new Set([`drop/crontab: refused: directory ${drop} is owned by uid ${mallory.uid} (expected 0)`, `drop/crontab: refused: owned by uid ${mallory.uid} (expected root: a root schedd runs only root's crontabs, as cron does)`]);
    for (const record of refused) assert.ok(record.errors?.length === 1 && reasons.has(record.errors[0]!), JSON.stringify(record.errors));
    assert.deepEqual(daemon.all({ msg: 'crontab reloaded' }, from), []);
  });

  it('regression (issue 11 item 4): a non-system crontab owned by another user, or group-writable, is refused as root', async (t) => {
    const bob = ensureUser('sdtbob');
    const ws = workspace(t);
    const out = sharedOut(ws);
    const job = `* * * * * * id -u >> ${out}/ran\n`;
    const cases: [string, () => void, string][] = [
      ['owned', () => chownSync(ws.path('owned'), bob.uid, bob.gid), `schedd: owned: refused: owned by uid ${bob.uid} (expected root: a root schedd runs only root's crontabs, as cron does)\n`],
      ['group-writable', () => chmodSync(ws.path('group-writable'), 0o664), "schedd: group-writable: refused: group- or world-writable (mode 664; expected no write bit for them: chmod go-w it)\n"],
      ['world-writable', () => chmodSync(ws.path('world-writable'), 0o646), "schedd: world-writable: refused: group- or world-writable (mode 646; expected no write bit for them: chmod go-w it)\n"],
    ];
    for (const [name, spoil, refusal] of cases) {
      ws.write(name, job);
      spoil();
      const daemon = ws.start({ crontab: name, stateDir: `state-${name}` });
      const exit = await exitWithin(daemon, 5000);
      assert.equal(existsSync(`${out}/ran`), false, `${name}: its job ran as root`);
      assert.deepEqual([exit?.code, daemon.stderr], [1, refusal], name);
      assert.deepEqual(await runCli(['check', name], { cwd: ws.dir }), { code: 1, signal: null, stdout: '', stderr: refusal }, name);
    }
    // Root's own file, not writable by others, still runs.
    ws.write('fine', job);
    const daemon = ws.start({ crontab: 'fine', stateDir: 'state-fine' });
    await daemon.waitFor({ msg: 'job finished' });
    assert.equal(ws.read('out/ran').split('\n')[0], '0');
  });
});
