// A run history that cannot be used never stops jobs: a damaged file, a directory where the
// file should be, a full disk. The daemon says so once and keeps firing.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { after, describe, it, type TestContext } from 'node:test';
import { fillDisk, mountTinyTmpfs, unmount } from '../helpers/tmpfs.js';
import { killAllDaemons, Workspace, workspace, type DaemonProcess } from '../helpers/daemon.js';
import { cli, history, readHistory, SECOND } from './helpers.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

const TICK = '# schedd: name=tick\n* * * * * * echo "$SCHEDD_SCHEDULED_AT" >> ledger\n';
const RETRY = 'jobs keep running, retrying in 30 s';

/** Waits for `more` ledger lines beyond `from`, one per second. */
async function ledgerGrows(ws: Workspace, from: number, more: number): Promise<void> {
  await waitUntil(`${more} more ledger lines`, () => ws.lines('ledger').length >= from + more, (more + 5) * SECOND);
}

/** The daemon's "run history unavailable" records, as [reason, msg]. */
function unavailable(daemon: DaemonProcess): [string | undefined, string][] {
  return daemon.all((r) => r.msg.startsWith('run history unavailable')).map((r) => [r.reason, r.msg]);
}

describe('run history unavailable: jobs keep firing', { concurrency: true }, () => {
  it('a damaged history file: logged once, jobs fire, the file is left as it was, schedd history says why', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', TICK);
    mkdirSync(ws.path('state'));
    const garbage = 'this is not a database\n'.repeat(500);
    ws.write('state/history.db', garbage);
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'schedd started' });
    await ledgerGrows(ws, 0, 4);
    assert.deepEqual(unavailable(daemon), [['open', `run history unavailable (file is not a database); ${RETRY}`]]);
    assert.equal(await daemon.stop(), 0);
    assert.equal(daemon.all({ msg: 'job finished', job: 'tick' }).length, ws.lines('ledger').length);
    assert.equal(unavailable(daemon).length, 1);
    assert.equal(readFileSync(ws.path('state/history.db'), 'utf8'), garbage);
    assert.deepEqual(await cli(ws, ['history']), {
      code: 1,
      signal: null,
      stdout: '',
      stderr: `schedd: cannot read the run history ${ws.path('state/history.db')}: file is not a database\n`,
    });
  });

  it('a directory where the history file should be: logged once, jobs fire', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', TICK);
    mkdirSync(ws.path('state/history.db'), { recursive: true });
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'schedd started' });
    await ledgerGrows(ws, 0, 4);
    assert.deepEqual(unavailable(daemon), [['open', `run history unavailable (unable to open database file); ${RETRY}`]]);
    assert.equal(await daemon.stop(), 0);
    assert.equal(unavailable(daemon).length, 1);
    assert.equal(daemon.all({ msg: 'job finished', job: 'tick' }).length, ws.lines('ledger').length);
    assert.deepEqual(await cli(ws, ['history']), {
      code: 1,
      signal: null,
      stdout: '',
      stderr: `schedd: cannot read the run history ${ws.path('state/history.db')}: disk I/O error\n`,
    });
  });

  it('a full disk: writes fail, logged once, jobs keep firing, what was recorded stays readable', async (t) => {
    const ws = new Workspace();
    const state = ws.path('state');
    mkdirSync(state);
    if (!mountTmpfs(t, state)) {
      ws.cleanup().catch(() => undefined);
      return;
    }
    t.after(async () => {
      await killAllDaemons();
      unmount(state);
      await ws.cleanup();
    });
    ws.write('crontab', TICK);
    const daemon = ws.start();
    await daemon.waitForCount({ msg: 'job finished', job: 'tick' }, 2);
    // A finished record commits at the end of its turn: fill the disk once two are committed.
    await waitUntil('two finished runs to be committed', async () => (await readHistory(ws, 'tick')).filter((r) => r.outcome === 'ok').length >= 2, 5000);
    fillDisk(ws.path('state/filler'));
    const full = daemon.records.length;
    const lines = ws.lines('ledger').length;
    await daemon.waitFor((r) => r.msg.startsWith('run history unavailable'), 5000, full);
    await ledgerGrows(ws, lines, 4);
    // Writes of a turn are batched: the failure comes at the commit at the end of the turn.
    assert.deepEqual(unavailable(daemon), [['commit', `run history unavailable (database or disk is full); ${RETRY}`]]);
    // What was committed before the disk filled is still there.
    const recorded = await history(ws, 'tick');
    assert.ok(recorded.filter((r) => r.outcome === 'ok').length >= 2, JSON.stringify(recorded, null, 1));
    rmSync(ws.path('state/filler'));
    assert.equal(await daemon.stop(), 0);
    assert.equal(unavailable(daemon).length, 1);
  });
});

/** Mounts a 1 MiB tmpfs (root only); skips the test with the reason when that is not possible. */
function mountTmpfs(t: TestContext, dir: string): boolean {
  const why = mountTinyTmpfs(dir);
  if (why !== null) t.skip(why);
  return why === null;
}
