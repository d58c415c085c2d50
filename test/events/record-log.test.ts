// The history and log subscribers: what each event writes, exactly (the dispatcher's wording of
// today), and that an outcome already in the history is not written twice.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logRuns } from '../../src/events/log.js';
import { recordRuns } from '../../src/events/record.js';
import { RunEvents, type RunEvent } from '../../src/events/run-events.js';
import type { Log, LogFields } from '../../src/log.js';
import type { RunResult } from '../../src/runner/index.js';
import type { RunRecord } from '../../src/store/types.js';

const T = Date.parse('2026-03-02T10:00:00.000Z');

function setup(): { emit(event: RunEvent): void; writes: unknown[][]; lines: [string, string, LogFields][] } {
  const writes: unknown[][] = [];
  const lines: [string, string, LogFields][] = [];
  const method = (level: string) => (fields: LogFields, msg: string) => void lines.push([level, msg, fields]);
  const log: Log = { trace: method('trace'), debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error'), fatal: method('fatal'), flush: () => {}, level: 'trace', reopen: () => {}, dropped: 0 };
  const note = (name: string) => (...args: unknown[]) => (writes.push([name, ...args]), Promise.resolve());
  const events = new RunEvents((error) => {
    throw error;
  });
  events.on(recordRuns({ started: note('started'), finished: note('finished'), retrying: note('retrying'), cancelled: note('cancelled'), notRun: note('notRun') }));
  events.on(logRuns(log));
  return { emit: (event) => events.emit(event), writes, lines };
}

const result: RunResult = { outcome: 'failed', exitCode: 2, signal: null, pid: 41, startedAt: T + 5, finishedAt: T + 1505.6, durationMs: 1500.6, output: { head: '', tail: '', bytes: 0, truncated: false } };
const trigger = { kind: 'slot', scheduledAt: T } as const;

describe('run events: record.ts and log.ts', () => {
  it('a started run and a failed attempt with its retry', () => {
    const s = setup();
    s.emit({ type: 'started', job: 'j', run: 'r1', trigger, pid: 41, startedAt: T + 5, attempt: 1 });
    const record = { outcome: 'failed', exitCode: 2, signal: null, startedAt: T + 5, finishedAt: T + 1505.6, durationMs: 1500.6, attempt: 1, output: result.output } as const;
    s.emit({ type: 'finished', job: 'j', run: 'r1', trigger, attempt: 1, result, record, final: false, retry: { attemptId: 'r1.1', delayMs: 1000, reason: 'attempt 1/2 failed (exit 2); retried after 1s', nextAttempt: 2 } });
    assert.deepEqual(s.writes, [
      ['started', 'r1', 41, T + 5, 1],
      ['finished', 'r1', record],
      ['retrying', 'r1', 'r1.1', 'attempt 1/2 failed (exit 2); retried after 1s'],
    ]);
    assert.deepEqual(s.lines, [
      ['info', 'job started', { job: 'j', run: 'r1', pid: 41, attempt: 1, scheduledAt: '2026-03-02T10:00:00.000Z', lateMs: 5 }],
      ['warn', 'job failed', { job: 'j', run: 'r1', pid: 41, outcome: 'failed', exitCode: 2, signal: null, durationMs: 1501, attempt: 1 }],
      ['info', 'job retry scheduled', { job: 'j', run: 'r1', attempt: 2, delayMs: 1000 }],
    ]);
  });

  it('not-run outcomes: an overlap skip, clock-skipped slots, a missed slot, a lost run (not written again)', () => {
    const s = setup();
    s.emit({ type: 'notRun', job: 'j', scheduledAt: T, outcome: 'skipped', reason: 'previous run still active (overlap=skip)', cause: { kind: 'overlap', why: 'previous run still active', policy: 'skip' }, recorded: false });
    const skipped = { firstAt: T, lastAt: T + 2000, count: 3, atLeast: false, reason: 'clock-jump', outcome: 'skipped', detail: 'wall clock jumped forward' } as const;
    s.emit({ type: 'notRun', job: 'j', scheduledAt: T, outcome: 'skipped', reason: '3 slots up to 2026-03-02T10:00:02.000Z: wall clock jumped forward', cause: { kind: 'clock', skipped }, recorded: false });
    s.emit({ type: 'notRun', job: 'j', scheduledAt: T, outcome: 'missed', reason: 'schedd was not running', cause: { kind: 'downtime' }, recorded: false });
    const lost: RunRecord = { runId: 'old', job: 'j', scheduledAt: '2026-03-02T10:00:00.000Z', startedAt: null, finishedAt: null, outcome: 'running', exitCode: null, signal: null, durationMs: null, reason: null, pid: 77, attempt: 1 };
    s.emit({ type: 'notRun', job: 'j', scheduledAt: T, outcome: 'lost', reason: 'schedd died while this ran; its process 77 is gone', cause: { kind: 'lost', record: lost, alive: false }, recorded: true });
    assert.deepEqual(s.writes, [
      ['notRun', 'j', T, 'skipped', 'previous run still active (overlap=skip)'],
      ['notRun', 'j', T, 'skipped', '3 slots up to 2026-03-02T10:00:02.000Z: wall clock jumped forward'],
      ['notRun', 'j', T, 'missed', 'schedd was not running'],
    ]);
    assert.deepEqual(s.lines, [
      ['warn', 'job skipped: previous run still active', { job: 'j', scheduledAt: '2026-03-02T10:00:00.000Z', reason: 'previous run still active' }],
      ['warn', 'slots skipped: 3 between 2026-03-02T10:00:00.000Z and 2026-03-02T10:00:02.000Z (wall clock jumped forward)', { job: 'j', count: 3, reason: 'clock-jump', scheduledAt: '2026-03-02T10:00:00.000Z' }],
      ['warn', 'run lost: schedd died while it was in flight', { job: 'j', run: 'old', pid: 77, scheduledAt: '2026-03-02T10:00:00.000Z', reason: 'gone' }],
    ]);
  });
});
