// Services (issue 14) against the real daemon: instances=N runs N processes, each with its own
// SCHEDD_INSTANCE, and a restart rolls through them one at a time, the next only once the one
// before is running again, so at most one is ever down.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { procStat, processesWithEnv } from '../helpers/detached.js';
import { hasExited, killAllDaemons } from '../helpers/daemon.js';
import { instanceOf, msBetween, script, service, ServiceCli, svc, workspace } from './helpers.js';

after(killAllDaemons);

/** The main processes (group leaders) among `pids`: a service's sleeps share its group. */
function leaders(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    try {
      return procStat(pid).pgrp === pid;
    } catch {
      return false;
    }
  });
}

describe('services: instances', { concurrency: true }, () => {
  it('instances=4 runs four processes with SCHEDD_INSTANCE 0..3; schedd service restart rolls through them with never fewer than 3 up', async (t) => {
    const ws = workspace(t);
    const mark = randomUUID();
    const pool = script(ws, 'pool.sh', ['trap \'echo "stop $SCHEDD_INSTANCE $$" >> ledger; exit 0\' TERM', 'echo "start $SCHEDD_INSTANCE $$" >> ledger', 'while :; do sleep 0.1 & wait $!; done'].join('\n'));
    ws.write('crontab', `POOL_MARK=${mark}\n${service('pool', pool, 'instances=4 stop-timeout=2s')}`);
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    await daemon.waitFor({ msg: 'schedd started' });
    const before = await cli.waitState('pool', 'running');
    assert.deepEqual(before.map((row) => [row.id, row.instance, row.instances, row.restarts]), [0, 1, 2, 3].map((i) => ['pool', i, 4, 0]));
    const oldPids = before.map((row) => row.pid!);
    assert.equal(new Set(oldPids).size, 4);
    assert.deepEqual(oldPids.map(instanceOf), ['0', '1', '2', '3']);
    assert.deepEqual(leaders(processesWithEnv('POOL_MARK', mark)), [...oldPids].sort((a, b) => a - b));

    // Sampled from /proc while the restart runs: how many main processes there are.
    const counts: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        counts.push(leaders(processesWithEnv('POOL_MARK', mark)).length);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const from = daemon.records.length;
    const restarted = await cli.run(['service', 'restart', 'pool']).finally(() => (sampling = false));
    await sampler;
    const starts = daemon.all({ msg: 'service started', job: 'pool' }, from).map(svc);
    assert.deepEqual(starts.map((r) => [r.instance, r.reason]), [0, 1, 2, 3].map((i) => [i, 'restarted by schedd service restart']));
    const newPids = starts.map((r) => r.pid!);
    assert.deepEqual(restarted, { code: 0, signal: null, stdout: newPids.map((pid, i) => `pool#${i}: running (pid ${pid})\n`).join(''), stderr: '' });
    assert.deepEqual(newPids.map(instanceOf), ['0', '1', '2', '3']);
    for (const pid of oldPids) assert.equal(hasExited(pid), true);

    // The ledger the processes wrote: each old one stopped (through its trap) before its
    // successor started, and never more than one down at a time.
    const ledger = ws.lines('ledger');
    assert.deepEqual(
      ledger.slice(4),
      [0, 1, 2, 3].flatMap((i) => [`stop ${i} ${oldPids[i]}`, `start ${i} ${newPids[i]}`]),
    );
    let up = 0;
    let fewest = Infinity;
    for (const [i, line] of ledger.entries()) {
      up += line.startsWith('start') ? 1 : -1;
      if (i >= 4) fewest = Math.min(fewest, up);
    }
    assert.equal(fewest, 3);
    assert.ok(counts.length >= 10, `only ${counts.length} samples`);
    assert.ok(Math.min(...counts) >= 3 && Math.max(...counts) <= 4, `main processes seen during the restart: ${[...new Set(counts)].join(', ')} (expected 3 or 4)`);

    // The next instance is stopped only once the one before has been running (up 1 s).
    const stops = daemon.all({ msg: 'service stopping', job: 'pool' }, from).map(svc);
    assert.deepEqual(stops.map((r) => r.instance), [0, 1, 2, 3]);
    for (let i = 1; i < 4; i++) {
      const gapMs = msBetween(starts[i - 1]!.time, stops[i]!.time);
      t.diagnostic(`instance ${i} stopped ${gapMs} ms after instance ${i - 1} started again`);
      assert.ok(gapMs >= 950, `instance ${i} was stopped ${gapMs} ms after instance ${i - 1} started again, before it was running`);
    }
    const after = await cli.instances('pool');
    assert.deepEqual(after.map((row) => [row.state, row.pid, row.restarts]), newPids.map((pid) => ['running', pid, 1]));
    assert.equal(await daemon.stop(), 0);
  });

  it('--instance restarts or stops one instance and leaves the others alone', async (t) => {
    const ws = workspace(t);
    ws.write('crontab', service('pair', 'sleep 1000', 'instances=2 stop-timeout=2s'));
    const daemon = ws.start();
    const cli = new ServiceCli(ws);
    await daemon.waitFor({ msg: 'schedd started' });
    const before = await cli.waitState('pair', 'running');
    const restarted = await cli.run(['service', 'restart', 'pair', '--instance', '1']);
    const [start] = daemon.all({ msg: 'service started', job: 'pair' }).slice(2);
    assert.deepEqual(restarted, { code: 0, signal: null, stdout: `pair#1: running (pid ${start!.pid})\n`, stderr: '' });
    assert.equal(svc(start!).instance, 1);
    const stopped = await cli.run(['service', 'stop', 'pair', '--instance', '0']);
    assert.deepEqual(stopped, { code: 0, signal: null, stdout: 'pair#0: stopped (stopped by schedd service stop (killed by SIGTERM))\n', stderr: '' });
    const after = await cli.instances('pair');
    assert.deepEqual(after.map((row) => [row.instance, row.state, row.pid]), [[0, 'stopped', null], [1, 'running', start!.pid]]);
    assert.equal(hasExited(before[0]!.pid!), true);
    assert.equal(hasExited(before[1]!.pid!), true);
    assert.equal(daemon.all({ msg: 'service started' }).length, 3);
    assert.equal(await daemon.stop(), 0);
  });
});
