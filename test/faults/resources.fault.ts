// Scenario 5, resource faults: the state directory on a full file system, the log unwritable,
// the crontab deleted and re-created, the descriptor limit lowered. Each runs the real daemon
// with a per-second job that writes the ledger (outside the faulty place), and checks that jobs
// keep firing, the fault is logged once with its cause, and schedd recovers when it clears.
// The four run at once, to keep the suite's wall time down (the history retries every 30 s).
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { after, describe, it, type TestContext } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { killAllDaemons, Workspace, workspace } from '../helpers/daemon.js';
import { cleanupAll, Instance, type LogLine } from '../helpers/detached.js';
import { doubledSlots, ledgerCommand, readLedger, reportFigures } from './ledger.js';
import { fileLimit, fillDisk, freeDisk, mountTinyTmpfs, openDescriptors, setFileLimit, unmount } from './resources-helpers.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);
after(cleanupAll);

const figures: Record<string, number> = { faultsInjected: 0, faultsRecovered: 0, faultLogLines: 0, doubled: 0 };

/** Ledger lines a job started, by job. */
function startsOf(ledger: string, job: string): number {
  return readLedger(ledger).filter((e) => e.kind === 'start' && e.job === job).length;
}

/** Waits until `job` has started `more` runs beyond `from` (one a second). */
async function keepsFiring(ledger: string, job: string, from: number, more: number): Promise<number> {
  await waitUntil(`${more} more runs of ${job} in the ledger`, () => startsOf(ledger, job) >= from + more, (more + 10) * 1000);
  return startsOf(ledger, job);
}

function noDoubles(ledger: string): void {
  assert.deepEqual([...doubledSlots(readLedger(ledger))], []);
}

/** A workspace whose `state` is a 1 MiB tmpfs, unmounted after; null (skipped) when not possible. */
function tinyState(t: TestContext, ws: { path(name: string): string }): string | null {
  const state = ws.path('state');
  mkdirSync(state, { recursive: true });
  const why = mountTinyTmpfs(state);
  if (why !== null) {
    t.skip(why);
    return null;
  }
  return state;
}

describe('resources: jobs keep firing through resource faults, each logged once, and schedd recovers', { concurrency: true }, () => {
  it('the state directory on a full file system: the run history fault is logged once with its cause, history resumes when space is freed', async (t) => {
    const ws = new Workspace();
    const state = tinyState(t, ws);
    t.after(async () => {
      await killAllDaemons();
      if (state !== null) unmount(state);
      await ws.cleanup();
    });
    if (state === null) return;
    const ledger = ws.path('ledger');
    ws.write('crontab', `# schedd: name=tick\n* * * * * * ${ledgerCommand(ledger)}\n`);
    const daemon = ws.start();
    await daemon.waitForCount({ msg: 'job finished', job: 'tick' }, 2);
    fillDisk(ws.path('state/filler'));
    figures.faultsInjected!++;
    const full = daemon.records.length;
    const fault = await daemon.waitFor((r) => r.msg.startsWith('run history unavailable'), 10_000, full);
    let seen = await keepsFiring(ledger, 'tick', startsOf(ledger, 'tick'), 5);
    freeDisk(ws.path('state/filler'));
    const freedAt = Date.now();
    // The history is reopened 30 s after the failure at the latest.
    const back = await daemon.waitFor((r) => r.msg.startsWith('run history available again'), 45_000, full);
    // Recovered: runs slotted after the disk was freed are in the history again.
    const historyArgs = ['history', 'tick', '--json', '--limit', '1000', '--state-dir', state];
    const recordedAfterFree = async (): Promise<boolean> => {
      const result = await runCli(historyArgs, { cwd: ws.dir, env: { HOME: ws.dir, NODE_TEST_CONTEXT: undefined } });
      assert.equal(result.code, 0, JSON.stringify(result));
      return (JSON.parse(result.stdout) as { scheduledAt: string; outcome: string }[]).some((r) => Date.parse(r.scheduledAt) > freedAt && r.outcome === 'ok');
    };
    const giveUpAt = Date.now() + 15_000;
    while (!(await recordedAfterFree())) {
      if (Date.now() > giveUpAt) assert.fail('no finished run slotted after the disk was freed in the history');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    seen = await keepsFiring(ledger, 'tick', seen, 1);
    assert.equal(await daemon.stop(), 0);
    figures.faultsRecovered!++;

    const faults = daemon.all((r) => r.msg.startsWith('run history unavailable'));
    assert.equal(faults.length, 1, JSON.stringify(faults));
    assert.match(fault.msg, /^run history unavailable \(database or disk is full\); jobs keep running, retrying in 30 s$/);
    figures.faultLogLines! += faults.length;
    assert.ok(back.count! > 0, `records not written while the disk was full: ${back.count}`);
    assert.equal(daemon.all({ msg: 'job finished', job: 'tick' }).length, readLedger(ledger).filter((e) => e.kind === 'end').length);
    noDoubles(ledger);
  });

  it('detached, the log on a full file system, then unreopenable: the scheduler lives, jobs fire, the fault is logged once when the log works again', async (t) => {
    const instance = new Instance();
    const state = tinyState(t, instance);
    t.after(async () => {
      await instance.stop(['--timeout', '5s']).catch(() => undefined);
      if (state !== null) unmount(state);
      await instance.cleanup();
    });
    if (state === null) return;
    const ledger = instance.path('ledger');
    instance.write('crontab', `# schedd: name=tick\n* * * * * * ${ledgerCommand(ledger)}\n`);
    const watchdog = await instance.started();
    const scheduler = (await instance.status()).schedulerPid;
    await keepsFiring(ledger, 'tick', 0, 2);

    // 1. The disk fills: neither the log nor the history can be written.
    fillDisk(`${state}/filler`);
    figures.faultsInjected!++;
    // The log's last page still has room: it fails once that is used up, and then stops growing
    // while the job keeps running (the ledger is elsewhere).
    let seen = startsOf(ledger, 'tick');
    for (let unchanged = 0, size = statSync(instance.logPath).size; unchanged < 3; ) {
      seen = await keepsFiring(ledger, 'tick', seen, 1);
      const now = statSync(instance.logPath).size;
      unchanged = now === size ? unchanged + 1 : 0;
      size = now;
    }
    // Still answering, still the same scheduler (before the fix it hung in its exit handler).
    assert.equal((await instance.status()).schedulerPid, scheduler);
    freeDisk(`${state}/filler`);
    const written = await instance.waitForLog((r) => r.msg.startsWith('the log could not be written'), { timeoutMs: 10_000 });
    figures.faultsRecovered!++;
    assert.equal(written.record.reason, 'ENOSPC');
    seen = await keepsFiring(ledger, 'tick', seen, 2);

    // 2. logrotate moved the log, and a directory took its name: SIGUSR2 cannot reopen it.
    renameSync(instance.logPath, `${instance.logPath}.1`);
    mkdirSync(instance.logPath);
    figures.faultsInjected!++;
    process.kill(watchdog, 'SIGUSR2');
    const oldLog = (): LogLine[] => {
      try {
        return instance.read('state/schedd.log.1').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
      } catch {
        return [];
      }
    };
    await waitUntil('both processes to say they cannot reopen', () => oldLog().filter((r) => r.msg.startsWith('cannot reopen the log file')).length === 2, 10_000);
    seen = await keepsFiring(ledger, 'tick', seen, 2);
    rmdirSync(instance.logPath);
    process.kill(watchdog, 'SIGUSR2');
    await instance.waitForLog({ msg: 'log reopened' }, { timeoutMs: 10_000 });
    figures.faultsRecovered!++;
    seen = await keepsFiring(ledger, 'tick', seen, 2);
    assert.equal((await instance.status()).schedulerPid, scheduler);
    const stopped = await instance.stop();
    assert.equal(stopped.code, 0, JSON.stringify(stopped));

    const all = [...oldLog(), ...instance.records()];
    const notWritten = all.filter((r) => r.msg.startsWith('the log could not be written'));
    const notReopened = all.filter((r) => r.msg.startsWith('cannot reopen the log file'));
    // One each from the watchdog and the scheduler, which share the log file.
    assert.ok(notWritten.length >= 1 && notWritten.length <= 2, JSON.stringify(notWritten));
    assert.deepEqual(notReopened.map((r) => r.reason), ['EISDIR', 'EISDIR']);
    assert.equal(all.filter((r) => r.msg.startsWith('scheduler exited unexpectedly')).length, 0);
    figures.faultLogLines! += notWritten.length + notReopened.length;
    noDoubles(ledger);
  });

  it('the crontab deleted and re-created: the schedule is kept, the failure logged once, the new file applied', async (t) => {
    const ws = workspace(t);
    const ledger = ws.path('ledger');
    ws.write('crontab', `# schedd: name=tick\n* * * * * * ${ledgerCommand(ledger)}\n# schedd: name=old\n* * * * * * ${ledgerCommand(ledger)}\n`);
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'schedd started' });
    await keepsFiring(ledger, 'old', 0, 2);
    unlinkSync(ws.path('crontab'));
    figures.faultsInjected!++;
    const failed = await daemon.waitFor((r) => r.msg === 'reload failed: keeping the current schedule');
    let ticks = await keepsFiring(ledger, 'tick', startsOf(ledger, 'tick'), 3);
    const old = await keepsFiring(ledger, 'old', startsOf(ledger, 'old'), 1);
    // Re-created by an editor's rename, with a job replaced.
    writeFileSync(ws.path('crontab.new'), `# schedd: name=tick\n* * * * * * ${ledgerCommand(ledger)}\n# schedd: name=new\n* * * * * * ${ledgerCommand(ledger)}\n`);
    renameSync(ws.path('crontab.new'), ws.path('crontab'));
    const reloaded = await daemon.waitFor({ msg: 'crontab reloaded' });
    figures.faultsRecovered!++;
    await keepsFiring(ledger, 'new', 0, 2);
    ticks = await keepsFiring(ledger, 'tick', ticks, 1);
    assert.equal(await daemon.stop(), 0);

    assert.deepEqual(failed.errors, [`cannot read crontab ${ws.path('crontab')}: no such file (create it, or name another with -c FILE)`]);
    assert.equal(daemon.all((r) => r.msg.startsWith('reload failed')).length, 1);
    figures.faultLogLines! += 1;
    assert.deepEqual([reloaded.added, reloaded.removed, reloaded.unchanged], [['new'], ['old'], 1]);
    // `old` stopped with the reload: at most the run already in flight after it.
    assert.ok(startsOf(ledger, 'old') <= old + 1);
    noDoubles(ledger);
  });

  it('regression: a spawn that failed with EMFILE (no stdio pipes) crashed the daemon. The descriptor limit lowered under load: runs that cannot start say why, the daemon lives, runs start again when it is raised', async (t) => {
    const ws = workspace(t);
    const ledger = ws.path('ledger');
    const jobs = Array.from({ length: 12 }, (_, i) => `burst-${i}`);
    ws.write('crontab', jobs.map((job) => `# schedd: name=${job} overlap=allow\n* * * * * * ${ledgerCommand(ledger, 'sleep 2')}\n`).join(''));
    const daemon = ws.start();
    await daemon.waitFor({ msg: 'schedd started' });
    await daemon.waitForCount({ msg: 'job finished' }, 12);
    const limit = fileLimit(daemon.pid);
    // Room for what is open now and a few runs; 12 runs a second, each running 2 s, need more.
    const lowered = openDescriptors(daemon.pid) + 12;
    const why = setFileLimit(daemon.pid, String(lowered), limit.hard);
    if (why !== null) return t.skip(why);
    figures.faultsInjected!++;
    const from = daemon.records.length;
    const failedRun = await daemon.waitFor({ msg: 'job could not start' }, 15_000, from);
    const before = readLedger(ledger).length;
    await waitUntil('runs that still start under the limit', () => readLedger(ledger).length > before + 5, 15_000);
    assert.equal(setFileLimit(daemon.pid, limit.soft, limit.hard), null);
    const raisedAt = daemon.records.length;
    // Every job fires again: each has a run that started and finished after the limit was raised.
    await daemon.waitFor((r) => r.msg === 'job finished' && daemon.all({ msg: 'job finished' }, raisedAt).length >= 3 * jobs.length, 20_000, raisedAt);
    const after = daemon.records.slice(raisedAt);
    assert.equal(await daemon.stop(), 0);

    assert.match(failedRun.reason ?? '', /EMFILE/);
    const cannot = daemon.all({ msg: 'job could not start' });
    assert.ok(cannot.every((r) => /EMFILE/.test(r.reason ?? '')), JSON.stringify(cannot.slice(0, 3)));
    for (const job of jobs) assert.ok(after.some((r) => r.msg === 'job finished' && r.job === job), `${job} did not run after the limit was raised`);
    // Once raised (and a second for runs already being started), nothing fails to start.
    const settled = after.findIndex((r) => r.msg === 'job finished');
    const lateFailures = after.slice(settled).filter((r) => r.msg === 'job could not start' && Date.parse(r.time) > Date.parse(after[settled]!.time) + 2000);
    assert.deepEqual(lateFailures, []);
    figures.faultsRecovered!++;
    figures.runsRefusedEmfile = cannot.length;
    noDoubles(ledger);
  });
});

describe('resources: figures', () => {
  it('figures', (t) => {
    t.diagnostic(reportFigures('resources', { ...figures, lost: 0 }));
  });
});
