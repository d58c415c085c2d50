// A toy subscriber added to an in-process Daemon hears a real job's run, event by event.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Daemon } from '../../src/daemon/daemon.js';
import { RunEvents } from '../../src/events/run-events.js';
import type { Log, LogFields } from '../../src/log.js';
import { FinishedCounter } from './finished-counter.js';

function memoryLog(): Log & { records: { level: string; msg: string; fields: LogFields }[] } {
  const records: { level: string; msg: string; fields: LogFields }[] = [];
  const method = (level: string) => (fields: LogFields, msg: string) => void records.push({ level, msg, fields });
  return { records, trace: method('trace'), debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error'), fatal: method('fatal'), flush: (callback) => callback?.(), level: 'trace', reopen: () => {}, dropped: 0 };
}

describe('run events: a subscriber of its own', () => {
  it('hears claimed, started, output and finished of a real run, and the daemon logs as before', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'schedd-events-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    // Once a year: only `schedd run` starts it during the test.
    const done = join(dir, 'done');
    writeFileSync(join(dir, 'crontab'), `# schedd: name=hello retries=1\n0 0 1 1 * echo hi; [ -e ${done} ] || { touch ${done}; exit 3; }\n`);
    const counter = new FinishedCounter();
    const log = memoryLog();
    const daemon = new Daemon({ crontabPath: join(dir, 'crontab'), crontabName: 'crontab', stateDir, system: false, cron: false, cronRoot: '/', sendmail: '/usr/sbin/sendmail', cleanEnv: false, maxConcurrent: null, killGraceMs: 1000, stopGraceMs: 1000, log, subscribers: [counter] });
    await daemon.start();
    t.after(() => daemon.stop('test over'));
    const fired = daemon.runJob('hello');
    assert.equal(fired?.status, 'started');
    await counter.waitForFinals(1, 15_000);
    assert.deepEqual(counter.seen, [
      'claimed hello run won',
      'started hello attempt 1',
      'output hello stdout: hi',
      'finished hello failed exit 3 retried',
      'started hello attempt 2',
      'output hello stdout: hi',
      'finished hello ok exit 0 final',
    ]);
    assert.deepEqual([counter.count, counter.finals], [2, 1]);
    const runLog = log.records.filter((r) => r.fields.run === fired?.run && r.msg !== 'job output').map((r) => [r.level, r.msg, r.fields.attempt]);
    assert.deepEqual(runLog, [
      ['info', 'job started', 1],
      ['warn', 'job failed', 1],
      ['info', 'job retry scheduled', 2],
      ['info', 'job started', 2],
      ['info', 'job finished', 2],
    ]);
    assert.equal(daemon.jobStates()[0]?.lastRun?.outcome, 'ok');
    // The history subscriber recorded both attempts, the failed one under RUN.1.
    assert.deepEqual(
      (await daemon.store.history('hello', 10)).map((r) => [r.runId, r.outcome, r.attempt]).sort(),
      [[`${fired?.run}`, 'ok', 2], [`${fired?.run}.1`, 'failed', 1]],
    );
  });
});

describe('run events: the emitter', () => {
  it('delivers in subscription order; a subscriber that throws is reported and the others still hear it', () => {
    const errors: string[] = [];
    const events = new RunEvents((error, type) => errors.push(`${type}: ${(error as Error).message}`));
    const heard: string[] = [];
    events.on({ forgotten: (e) => heard.push(`first ${e.job}`) });
    const off = events.on({
      forgotten: () => {
        throw new Error('boom');
      },
    });
    events.on({ forgotten: (e) => heard.push(`third ${e.job}`), cancelled: () => heard.push('never') });
    events.emit({ type: 'forgotten', job: 'a' });
    off();
    events.emit({ type: 'forgotten', job: 'b' });
    assert.deepEqual(heard, ['first a', 'third a', 'first b', 'third b']);
    assert.deepEqual(errors, ['forgotten: boom']);
  });
});
