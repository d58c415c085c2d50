// Services (issue 14): the CLI's exit codes and output. 3 when the daemon is not running, 1
// with the reason on stderr for a request the daemon refuses, 2 for a usage error; the shape of
// `schedd services --json`; `schedd run` refuses a service.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.js';
import { killAllDaemons, type DaemonProcess } from '../helpers/daemon.js';
import { service, ServiceCli, ServiceWorkspace } from './helpers.js';

after(killAllDaemons);

describe('services CLI: the daemon is not running', { concurrency: true }, () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());
  const notRunning = { code: 3, signal: null, stdout: '', stderr: 'schedd: not running\n' };
  for (const args of [['services'], ['services', '--json'], ['service', 'start', 'web'], ['service', 'stop', 'web'], ['service', 'restart', 'web'], ['service', 'reload', 'web'], ['service', 'signal', 'web', 'USR1']]) {
    it(`schedd ${args.join(' ')} exits 3`, async () => {
      assert.deepEqual(await runCli([...args, '--state-dir', `${tmp.dir}/state`]), notRunning);
    });
  }
});

describe('services CLI: a running daemon', { concurrency: true }, () => {
  const ws = new ServiceWorkspace();
  const cli = new ServiceCli(ws);
  let daemon: DaemonProcess;
  before(async () => {
    ws.write('crontab', `${service('web', 'sleep 1000', 'stop-timeout=2s')}${service('pool', 'sleep 1000', 'instances=2 stop-timeout=2s')}# schedd: name=yearly\n0 0 1 1 * true\n`);
    daemon = ws.start();
    await daemon.waitFor({ msg: 'schedd started' });
    await cli.waitState('web', 'running');
    await cli.waitState('pool', 'running');
  });
  after(() => ws.cleanup());

  const refused = (stderr: string) => ({ code: 1, signal: null, stdout: '', stderr: `schedd: ${stderr}\n` });

  it('an unknown service: exit 1, for every action', async () => {
    for (const args of [['start', 'nope'], ['stop', 'nope'], ['restart', 'nope'], ['reload', 'nope'], ['signal', 'nope', 'HUP']]) {
      assert.deepEqual(await cli.run(['service', ...args]), refused("no service 'nope' (see schedd services)"), args.join(' '));
    }
  });

  it('a job is not a service, and a service is not run with schedd run', async () => {
    assert.deepEqual(await cli.run(['service', 'restart', 'yearly']), refused("no service 'yearly' (see schedd services)"));
    assert.deepEqual(await cli.run(['run', 'web']), refused("'web' is a service, kept running rather than run (expected schedd service start|stop|restart web)"));
    assert.equal(daemon.all({ msg: 'service started', job: 'web' }).length, 1);
  });

  it('reload without reload-signal=: exit 1, and nothing is signalled', async () => {
    assert.deepEqual(await cli.run(['service', 'reload', 'web']), refused("service 'web' has no reload signal (expected reload-signal= in its options, e.g. reload-signal=HUP)"));
    assert.deepEqual(daemon.all({ msg: 'service reloaded' }), []);
  });

  it('an instance out of range: exit 1; a malformed one or a bad signal: usage, exit 2', async () => {
    assert.deepEqual(await cli.run(['service', 'stop', 'pool', '--instance', '2']), refused("service 'pool' has no instance 2 (expected 0..1)"));
    const usage = await cli.run(['service', 'stop', 'pool', '--instance', 'one']);
    assert.deepEqual([usage.code, usage.stdout, usage.stderr], [2, '', "schedd: --instance 'one' is invalid: expected a whole number (0 or more) (see schedd service stop --help)\n"]);
    const signal = await cli.run(['service', 'signal', 'pool', 'SIGFOO']);
    assert.deepEqual([signal.code, signal.stdout, signal.stderr], [2, '', "schedd: 'SIGFOO' is not a signal (expected a name such as USR1, SIGUSR1, HUP)\n"]);
    assert.deepEqual(daemon.all({ msg: 'service stopping' }), []);
  });

  it('schedd services --json: one row per instance, with exactly these fields', async () => {
    const rows = await cli.list();
    const started = new Map(daemon.all({ msg: 'service started' }).map((r) => [`${r.job}#${(r as { instance?: number }).instance}`, r]));
    assert.deepEqual(
      rows.map((row) => Object.keys(row)),
      Array(3).fill(['id', 'instance', 'instances', 'state', 'pid', 'startedAt', 'uptimeMs', 'restarts', 'nextTryAt', 'lastExit']),
    );
    assert.deepEqual(
      rows.map(({ uptimeMs: _, ...row }) => row),
      [
        ['web', 0, 1],
        ['pool', 0, 2],
        ['pool', 1, 2],
      ].map(([id, instance, instances]) => {
        const start = started.get(`${id}#${instance}`)!;
        return { id, instance, instances, state: 'running', pid: start.pid, startedAt: rows.find((row) => row.id === id && row.instance === instance)!.startedAt, restarts: 0, nextTryAt: null, lastExit: null };
      }),
    );
    for (const row of rows) {
      const start = started.get(`${row.id}#${row.instance}`)!;
      // The record is logged just after the start is taken.
      const skewMs = Date.parse(start.time) - Date.parse(row.startedAt!);
      assert.ok(skewMs >= 0 && skewMs < 1000, `${row.id}#${row.instance}: startedAt ${row.startedAt}, logged ${start.time}`);
      assert.ok(Number.isInteger(row.uptimeMs) && row.uptimeMs! >= 1000, `uptimeMs ${row.uptimeMs} of a running instance`);
    }
  });

  it('schedd services prints a table, instances as NAME#N', async () => {
    const result = await cli.run(['services']);
    assert.equal(result.code, 0);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^SERVICE +STATE +PID +RESTARTS +LAST EXIT$/);
    assert.deepEqual(lines.slice(1).map((line) => line.split(/ +/).slice(0, 2).join(' ')), ['web running', 'pool#0 running', 'pool#1 running']);
    assert.equal(lines.length, 4);
  });

  it('schedd status --json counts the services apart from the jobs', async () => {
    const result = await cli.run(['status', '--json']);
    assert.equal(result.code, 0);
    const status = JSON.parse(result.stdout) as { jobs: number; services?: unknown };
    assert.deepEqual([status.jobs, status.services], [1, { count: 2, instances: 3, running: 3, backoff: 0, failed: 0, stopped: 0 }]);
  });
});
