// Detached mode under kill -9: the watchdog restarts a dead scheduler, a scheduler whose
// watchdog died carries on unsupervised and stays reachable, and the instance lock never goes
// stale.
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { hasExited } from '../../helpers/daemon.js';
import { cleanupAll, instance, procStat, type Instance, type LogLine, type StatusResult } from '../../helpers/detached.js';
import { waitUntil } from '../../helpers/wait.js';

/** `schedd status` when nothing runs: exit 3, and when the daemon ran before, when it was last seen. */
function assertNotRunning(result: { code: number | null; signal: string | null; stdout: string; stderr: string }, stateDir: string): void {
  assert.deepEqual({ code: result.code, signal: result.signal, stderr: result.stderr }, { code: 3, signal: null, stderr: '' });
  const escaped = stateDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(result.stdout, new RegExp(`^schedd is not running \\(state directory ${escaped}(; last seen \\d+[smhd]( \\d+[smh])? ago)?\\)\\n$`));
}

after(cleanupAll);

const TICK = '# schedd: name=tick\n* * * * * * echo "tick $SCHEDD_RUN_ID"\n';

function pick(record: LogLine, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((f) => record[f] !== undefined).map((f) => [f, record[f]]));
}

/** Waits for `count` finished runs of `job` logged at index `from` or later; they printed their own run id. */
async function finishedRuns(s: Instance, job: string, count: number, from: number): Promise<LogLine[]> {
  const runs: LogLine[] = [];
  let next = from;
  while (runs.length < count) {
    const { record, index } = await s.waitForLog({ msg: 'job finished', job }, { from: next });
    assert.deepEqual(s.all({ msg: 'job output', run: record.run }).map((r) => r.line), [`${job} ${record.run}`]);
    runs.push(record);
    next = index + 1;
  }
  return runs;
}

async function notRunning(s: Instance): Promise<void> {
  assertNotRunning(await s.cli(['status', '--state-dir', s.stateDir]), s.stateDir);
  assert.deepEqual(await s.stop(), { code: 0, signal: null, stdout: 'not running\n', stderr: '' });
}

async function stopped(s: Instance, pid: number, options: { socketChecked?: boolean } = {}): Promise<void> {
  assert.deepEqual(await s.stop(), { code: 0, signal: null, stdout: `stopping schedd (pid ${pid})...\nstopped\n`, stderr: '' });
  await waitUntil('every process of the daemon to be gone', () => s.processes().length === 0, 5000).catch(() => undefined);
  assert.deepEqual(s.processes(), []);
  assert.equal(existsSync(s.pidfilePath), false, 'pidfile left behind');
  if (options.socketChecked !== false) assert.equal(existsSync(s.socketPath), false, 'socket left behind');
}

const UNSUPERVISED = 'watchdog exited: carrying on unsupervised (restart to supervise it again)';

/** Kills the watchdog with -9 and waits for its scheduler to carry on alone (and say so). */
async function killWatchdog(s: Instance): Promise<{ pid: number; schedulerPid: number; index: number }> {
  const pid = await s.started();
  const { schedulerPid } = await s.status();
  await finishedRuns(s, 'tick', 1, 0);
  const logged = s.records().length;
  process.kill(pid, 'SIGKILL');
  const { record, index } = await s.waitForLog({ msg: UNSUPERVISED }, { from: logged });
  assert.deepEqual([record.level, record.daemonPid], [40, schedulerPid]);
  await waitUntil('the orphan to take over the pidfile', () => s.pidfile() === schedulerPid, 5000);
  assert.ok(hasExited(pid));
  return { pid, schedulerPid, index };
}

/** Starts a daemon with one yearly job and kills its scheduler: the watchdog is then in its 1 s restart backoff. */
async function inRestartBackoff(s: Instance): Promise<number> {
  s.write('crontab', '# schedd: name=yearly\n0 0 1 1 * true\n');
  const pid = await s.started();
  const { schedulerPid } = await s.status();
  process.kill(schedulerPid, 'SIGKILL');
  await s.waitForLog({ msg: 'scheduler exited unexpectedly: restart 1 in 1 s' });
  return pid;
}

describe('schedd start (detached): kill -9', { concurrency: true }, () => {
  it('after kill -9 of both the watchdog and the scheduler, start works again: the lock is not stale', async (t) => {
    const s = instance(t);
    s.write('crontab', TICK);
    const pid = await s.started();
    const { schedulerPid } = await s.status();
    await finishedRuns(s, 'tick', 1, 0);

    // Both at once, through their process group (jobs run in groups of their own): killed one
    // after the other, the scheduler may see the watchdog go and stop cleanly first.
    assert.deepEqual([procStat(pid).pgrp, procStat(schedulerPid).pgrp], [pid, pid]);
    process.kill(-pid, 'SIGKILL');
    await waitUntil('the watchdog and the scheduler to die', () => hasExited(pid) && hasExited(schedulerPid), 5000);
    // A job held at its gate exits when the scheduler's end of the gate closes.
    await waitUntil('their jobs to be gone', () => s.processes().length === 0, 5000).catch(() => undefined);
    assert.deepEqual(s.processes(), []);
    // Nobody cleaned up: the pidfile and the socket file are stale, and neither fools anyone.
    assert.equal(s.pidfile(), pid);
    assert.equal(existsSync(s.socketPath), true);
    await notRunning(s);

    const logged = s.records().length;
    const again = await s.started();
    assert.notEqual(again, pid);
    const status = await s.status();
    assert.deepEqual([status.pid, status.restarts, status.jobs], [again, 0, 1]);
    assert.notEqual(status.schedulerPid, schedulerPid);
    const restarted = await s.waitForLog({ msg: 'schedd started' }, { from: logged });
    assert.equal(restarted.record.daemonPid, status.schedulerPid);
    await finishedRuns(s, 'tick', 2, restarted.index);
    await stopped(s, again);
  });

  // The issue mandates this change: the scheduler used to stop when its watchdog died, and then
  // `start` said "already running" while it drained, the new watchdog's cleanup deleted its
  // socket, and `stop` failed on the dead watchdog's pidfile. (The unparsed check keeps the
  // older regression: no "internal error: ERR_IPC_DISCONNECTED" stack trace in the JSON log.)
  it('regression (issue 11 item 11): a scheduler whose watchdog was killed with -9 keeps firing, status says unsupervised, start refuses clearly, stop stops it', async (t) => {
    const s = instance(t);
    s.write('crontab', TICK);
    const { schedulerPid, index } = await killWatchdog(s);
    await finishedRuns(s, 'tick', 2, index);

    const status = await s.status();
    assert.deepEqual([status.pid, status.schedulerPid, status.jobs], [schedulerPid, schedulerPid, 1]);
    assert.ok(status.unsupervisedSince !== null && Date.parse(status.unsupervisedSince) > 0, `unsupervisedSince ${status.unsupervisedSince}`);
    const human = await s.cli(['status', '--state-dir', s.stateDir]);
    assert.equal(human.code, 0);
    assert.ok(human.stdout.includes(`supervision: none since ${status.unsupervisedSince} (its watchdog exited; schedd restart supervises it again)\n`), human.stdout);

    const again = await s.start();
    assert.deepEqual(again, { code: 1, signal: null, stdout: '', stderr: `schedd: already running (pid ${schedulerPid}, unsupervised since its watchdog exited; schedd restart supervises it again)\n` });
    // The refused watchdog removed nothing the orphan serves.
    assert.equal(s.pidfile(), schedulerPid);
    assert.equal((await s.status()).schedulerPid, schedulerPid);
    await finishedRuns(s, 'tick', 1, s.records().length);
    assert.deepEqual(s.all((r) => r.level >= 50), [], 'errors in the log');

    await stopped(s, schedulerPid);
    assert.deepEqual(s.unparsed(), []);
    await notRunning(s);
  });

  it('regression (issue 11 item 11): stop reaches an orphaned scheduler by signal when its socket is gone', async (t) => {
    const s = instance(t);
    s.write('crontab', TICK);
    const { schedulerPid } = await killWatchdog(s);
    rmSync(s.socketPath);
    await stopped(s, schedulerPid);
  });

  it('regression (issue 11 item 11): restart of an orphaned scheduler gives a supervised daemon', async (t) => {
    const s = instance(t);
    s.write('crontab', TICK);
    const { schedulerPid } = await killWatchdog(s);
    const logged = s.records().length;
    const result = await s.cli(['restart', '-c', s.crontabPath, '--state-dir', s.stateDir]);
    const pid = s.pidfile()!;
    assert.deepEqual(result, { code: 0, signal: null, stdout: `stopping schedd (pid ${schedulerPid})...\nstopped\nschedd started (pid ${pid}); log: ${s.logPath}\n`, stderr: '' });
    assert.ok(hasExited(schedulerPid));
    const status = await s.status();
    assert.deepEqual([status.pid, status.restarts, status.unsupervisedSince], [pid, 0, null]);
    assert.notEqual(status.schedulerPid, schedulerPid);
    assert.equal(procStat(status.schedulerPid).ppid, pid, "the new scheduler is the watchdog's child");
    const restarted = await s.waitForLog({ msg: 'schedd started' }, { from: logged });
    await finishedRuns(s, 'tick', 1, restarted.index);
    await stopped(s, pid);
  });

  it('when the scheduler is killed with -9, the watchdog restarts it after 1 s: restarts 1, a new schedulerPid, jobs keep firing', async (t) => {
    const s = instance(t);
    s.write('crontab', TICK);
    const pid = await s.started();
    const first = await s.status();
    await finishedRuns(s, 'tick', 1, 0);

    process.kill(first.schedulerPid, 'SIGKILL');
    const crash = await s.waitForLog({ msg: 'scheduler exited unexpectedly: restart 1 in 1 s' });
    assert.deepEqual(pick(crash.record, ['level', 'exitCode', 'signal', 'delayMs', 'count']), { level: 50, exitCode: null, signal: 'SIGKILL', delayMs: 1000, count: 1 });
    const second = await s.waitForLog({ msg: 'schedd started' }, { from: crash.index });
    const backoffMs = Date.parse(second.record.time) - Date.parse(crash.record.time);
    assert.ok(backoffMs >= 1000, `restarted ${backoffMs} ms after the crash`);

    const status = await waitUntil('status to answer again', async () => {
      const result = await s.cli(['status', '--json', '--state-dir', s.stateDir]);
      return result.code === 0 ? (JSON.parse(result.stdout) as StatusResult) : undefined;
    });
    assert.deepEqual([status.pid, status.restarts, status.jobs, s.pidfile()], [pid, 1, 1, pid]);
    assert.notEqual(status.schedulerPid, first.schedulerPid);
    assert.equal(second.record.daemonPid, status.schedulerPid);
    assert.equal(procStat(status.schedulerPid).ppid, pid, "the new scheduler is the same watchdog's child");
    assert.ok(hasExited(first.schedulerPid));
    await finishedRuns(s, 'tick', 2, second.index);
    assert.deepEqual(s.all((r) => r.level >= 50), [crash.record], 'errors in the log besides the crash');
    assert.deepEqual(s.unparsed(), []);
    await stopped(s, pid);
  });

  it('stop during the restart backoff stops the watchdog and leaves no scheduler behind', async (t) => {
    const s = instance(t);
    const pid = await inRestartBackoff(s);
    // Usually inside the 1 s backoff (the socket is dead, so stop signals the pidfile's pid); if
    // the new scheduler came first, stop goes over its socket. Both end the same way.
    await stopped(s, pid, { socketChecked: false });
  });

  // Found while writing these tests, fixed in 6aa4521. A scheduler killed with -9 cannot remove
  // its socket, and a watchdog stopped before the restart (SIGTERM is what `schedd stop` sends
  // when the socket does not answer) exited without removing it either, although it removed the
  // pidfile: a stale schedd.sock was left in a state directory that said "stopped".
  it('regression: a stop during the restart backoff left the dead scheduler\'s socket file behind', async (t) => {
    const s = instance(t);
    const pid = await inRestartBackoff(s);
    process.kill(pid, 'SIGTERM');
    await waitUntil(`watchdog ${pid} to exit`, () => hasExited(pid), 5000);
    assert.equal(s.all({ msg: 'schedd started' }).length, 1, 'the scheduler was restarted before SIGTERM came: the backoff was missed');
    assert.equal(existsSync(s.pidfilePath), false, 'pidfile left behind');
    assert.equal(existsSync(s.socketPath), false, 'socket left behind');
  });
});
