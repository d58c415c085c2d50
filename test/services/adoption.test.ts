// Services (issue 14) in detached mode under kill -9 of the scheduler: the watchdog starts a
// new scheduler, which adopts the instances the dead one left (same pid, same run) instead of
// starting second copies, and goes on logging their output, which goes to files, not pipes,
// so a service that keeps printing neither blocks nor dies of SIGPIPE meanwhile.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { ServiceInstanceView } from '../../src/control/commands.js';
import { hasExited } from '../helpers/daemon.js';
import { cleanupAll, instance, procStat, processesWithEnv, type Instance, type LogLine } from '../helpers/detached.js';
import { waitUntil } from '../helpers/wait.js';
import { service } from './helpers.js';

after(cleanupAll);

async function services(s: Instance): Promise<ServiceInstanceView[]> {
  const result = await s.cli(['services', '--json', '--state-dir', s.stateDir]);
  if (result.code !== 0) throw new Error(`schedd services: ${JSON.stringify(result)}`);
  return (JSON.parse(result.stdout) as { services: ServiceInstanceView[] }).services;
}

/** The numbers N of the `tick I N` lines instance I printed, as logged (in log order). */
function ticks(records: readonly LogLine[], instance: number, stream: 'stdout' | 'stderr' = 'stdout'): number[] {
  const word = stream === 'stdout' ? 'tick' : 'tock';
  return records.filter((r) => r.msg === 'job output' && r.job === 'printer' && r.instance === instance && r.stream === stream).map((r) => {
    const match = new RegExp(`^${word} ${instance} (\\d+)$`).exec(r.line ?? '');
    if (match === null) throw new Error(`unexpected output line ${JSON.stringify(r)}`);
    return Number(match[1]);
  });
}

/** Lines the instances appended to ./ledger. */
function ledger(s: Instance): string[] {
  return s.read('ledger').split('\n').filter((line) => line !== '');
}

/** Main processes (group leaders) carrying PRINTER_MARK=mark: the instances, not their sleeps. */
function instancesRunning(mark: string): number[] {
  return processesWithEnv('PRINTER_MARK', mark).filter((pid) => {
    try {
      return procStat(pid).pgrp === pid;
    } catch {
      return false;
    }
  });
}

describe('services (detached): kill -9 of the scheduler', () => {
  it('adopts the live instances (same pid, same run) instead of starting second copies, and their output keeps being logged', async (t) => {
    const s = instance(t);
    const mark = randomUUID();
    const printer = s.write(
      'printer.sh',
      [
        '#!/bin/sh',
        'echo "start $SCHEDD_INSTANCE $$" >> ledger',
        'trap \'echo "stop $SCHEDD_INSTANCE $$" >> ledger; exit 0\' TERM',
        'n=0',
        'while :; do n=$((n + 1)); echo "tick $SCHEDD_INSTANCE $n"; echo "tock $SCHEDD_INSTANCE $n" >&2; sleep 0.05 & wait $!; done',
        '',
      ].join('\n'),
    );
    chmodSync(printer, 0o755);
    s.write('crontab', `PRINTER_MARK=${mark}\n${service('printer', printer, 'instances=2 stop-timeout=2s')}`);
    const watchdogPid = await s.started();
    await waitUntil('both instances to print', () => ticks(s.records(), 0).length > 5 && ticks(s.records(), 1).length > 5, 15_000);
    const { schedulerPid } = await s.status();
    // Up 1 s makes an instance running; printing a few lines takes less.
    const before = await waitUntil('both instances running', async () => {
      const rows = await services(s);
      return rows.every((row) => row.state === 'running') ? rows : undefined;
    });
    assert.deepEqual(before.map((row) => [row.instance, row.state]), [[0, 'running'], [1, 'running']]);
    const pids = before.map((row) => row.pid!);
    const runs = [0, 1].map((i) => s.all((r) => r.msg === 'service started' && (r as LogLine).instance === i)[0]!.run);

    // From the kill until both are adopted, /proc shows exactly the two: none lost, none doubled.
    const counts: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        counts.push(instancesRunning(mark).length);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const logged = s.records().length;
    process.kill(schedulerPid, 'SIGKILL');
    await s.waitForLog({ msg: 'scheduler exited unexpectedly: restart 1 in 1 s' }, { from: logged });
    const adopted = await waitUntil('both instances to be adopted', () => {
      const found = s.all({ msg: 'service adopted: its process outlived the scheduler that started it' }, logged);
      return found.length === 2 ? found : undefined;
    }, 20_000).finally(() => (sampling = false));
    await sampler;
    assert.deepEqual(
      adopted.map((r) => [r.job, r.instance, r.pid, r.run]).sort(),
      [0, 1].map((i) => ['printer', i, pids[i], runs[i]]),
    );
    assert.ok(Math.max(...counts) === 2 && Math.min(...counts) === 2, `instances seen in /proc across the restart: ${[...new Set(counts)].join(', ')} (expected 2 throughout)`);
    assert.deepEqual(s.all({ msg: 'service started' }, logged), [], 'a second copy was started');
    const { schedulerPid: newScheduler } = await s.status();
    assert.notEqual(newScheduler, schedulerPid);

    // Still printing, and still logged: lines written after the new scheduler answered.
    const after = await services(s);
    assert.deepEqual(after.map((row) => [row.instance, row.state, row.pid, row.restarts, row.lastExit]), [0, 1].map((i) => [i, 'running', pids[i], 0, null]));
    const seen = s.records().length;
    const highest = [0, 1].map((i) => Math.max(...ticks(s.records().slice(0, seen), i)));
    await waitUntil('ten more lines of each instance, on both streams', () => {
      const records = s.records().slice(seen);
      return [0, 1].every((i) => ticks(records, i).some((n) => n >= highest[i]! + 10) && ticks(records, i, 'stderr').some((n) => n >= highest[i]! + 10));
    }, 15_000);
    for (const [i, pid] of pids.entries()) {
      assert.equal(hasExited(pid), false, `instance ${i} died after the scheduler's death`);
      // Nothing lost in between: every line from the first to the last logged at least once
      // (the new scheduler logs again what the dead one had read).
      for (const stream of ['stdout', 'stderr'] as const) {
        const numbers = new Set(ticks(s.records(), i, stream));
        const top = Math.max(...numbers);
        const missing = Array.from({ length: top }, (_, k) => k + 1).filter((n) => !numbers.has(n));
        assert.deepEqual(missing, [], `instance ${i} ${stream}: lines missing from the log`);
      }
    }
    assert.deepEqual(ledger(s).sort(), [0, 1].map((i) => `start ${i} ${pids[i]}`).sort());

    // The adopted instances stop as gracefully as their own.
    assert.deepEqual(await s.stop(), { code: 0, signal: null, stdout: `stopping schedd (pid ${watchdogPid})...\nstopped\n`, stderr: '' });
    for (const pid of pids) assert.equal(hasExited(pid), true);
    assert.deepEqual(ledger(s).slice(2).sort(), [0, 1].map((i) => `stop ${i} ${pids[i]}`).sort());
    assert.deepEqual(
      s.all({ msg: 'service exited' }, logged).map((r) => [r.instance, r.pid, r.reason]).sort(),
      [0, 1].map((i) => [i, pids[i], "stopped: schedd is stopping (status unknown: not this scheduler's child)"]),
    );
  });

  it('a scheduler started after both died adopts what is unchanged, and stops (before starting anew) what was edited or removed meanwhile', async (t) => {
    const s = instance(t);
    const script = s.write('svc.sh', ['#!/bin/sh', 'trap \'echo "term $1 $2 $$" >> ledger; exit 0\' TERM', 'echo "start $1 $2 $$" >> ledger', 'while :; do sleep 0.1 & wait $!; done', ''].join('\n'));
    chmodSync(script, 0o755);
    const entry = (name: string, version: string): string => service(name, `${script} ${name} ${version}`, 'stop-timeout=2s');
    s.write('crontab', entry('keep', 'v1') + entry('edit', 'v1') + entry('gone', 'v1'));
    const watchdogPid = await s.started();
    await waitUntil('three services to start', () => s.all({ msg: 'service started' }).length === 3, 15_000);
    const { schedulerPid } = await s.status();
    const pid = new Map((await services(s)).map((row) => [row.id, row.pid!]));

    process.kill(watchdogPid, 'SIGKILL');
    await s.waitForLog({ msg: 'watchdog exited: carrying on unsupervised (restart to supervise it again)' });
    process.kill(schedulerPid, 'SIGKILL');
    await waitUntil('the scheduler to be gone', () => hasExited(schedulerPid), 5000);
    for (const [name, alive] of pid) assert.equal(hasExited(alive), false, `${name} died with the scheduler`);

    s.write('crontab', entry('keep', 'v1') + entry('edit', 'v2'));
    const logged = s.records().length;
    await s.started();
    const started = await waitUntil('the edited service to start again', () => s.all({ msg: 'service started', job: 'edit' }, logged)[0], 15_000);
    assert.equal(started.reason, 'schedd started');
    const adopted = s.all({ msg: 'service adopted: its process outlived the scheduler that started it' }, logged);
    assert.deepEqual(adopted.map((r) => [r.job, r.pid]), [['keep', pid.get('keep')]]);
    const stopping = s.all({ msg: 'service stopping: left running by a scheduler that died' }, logged);
    assert.deepEqual(
      stopping.map((r) => [r.job, r.pid, r.reason]).sort(),
      [
        ['edit', pid.get('edit'), 'restarted for a crontab edit made while no scheduler watched it'],
        ['gone', pid.get('gone'), 'stopped: no longer in the crontab'],
      ],
    );
    assert.equal(hasExited(pid.get('edit')!), true);
    assert.equal(hasExited(pid.get('gone')!), true);
    assert.deepEqual(s.all({ msg: 'service started' }, logged).map((r) => r.job), ['edit']);
    // Gracefully (their TERM traps ran), and the old edit was gone before the new one began.
    const lines = ledger(s);
    assert.deepEqual(lines.slice(3, 5).sort(), [`term edit v1 ${pid.get('edit')}`, `term gone v1 ${pid.get('gone')}`]);
    assert.deepEqual(lines.slice(5), [`start edit v2 ${started.pid}`]);
    const after = await waitUntil('both to be running', async () => {
      const rows = await services(s);
      return rows.every((row) => row.state === 'running') ? rows : undefined;
    }, 10_000);
    assert.deepEqual(after.map((row) => [row.id, row.pid]), [['keep', pid.get('keep')], ['edit', started.pid]]);
    const history = await s.cli(['history', 'edit', '--json', '--state-dir', s.stateDir]);
    const rows = (JSON.parse(history.stdout) as { pid: number; outcome: string; reason: string | null }[]).reverse();
    assert.deepEqual(
      rows.map((row) => [row.pid, row.outcome, row.reason]),
      [
        [pid.get('edit'), 'ok', "restarted for a crontab edit made while no scheduler watched it (status unknown: not this scheduler's child)"],
        [started.pid, 'running', null],
      ],
    );
  });
});
