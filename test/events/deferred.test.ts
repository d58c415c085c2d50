// Deferred subscribers: the events of a start reach them at the end of the turn, in order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunEvents, type RunEvent, type RunSubscriber } from '../../src/events/run-events.js';

const T = Date.parse('2026-03-02T10:00:00.000Z');
const trigger = { kind: 'slot', scheduledAt: T } as const;
const started = (run: string): RunEvent => ({ type: 'started', job: 'j', run, trigger, pid: 1, startedAt: T, attempt: 1 });
const claimed = (run: string): RunEvent => ({ type: 'claimed', job: 'j', run, trigger, claim: 'won' });
const cancelled = (run: string): RunEvent => ({ type: 'cancelled', job: 'j', run, trigger, reason: 'x' });

function recorder(seen: string[], name: string): RunSubscriber {
  const note = (event: RunEvent): void => void seen.push(`${name} ${event.type} ${'run' in event ? event.run : ''}`);
  return { claimed: note, started: note, cancelled: note };
}

describe('run events: deferred subscribers', () => {
  it('get a burst\'s claimed and started events once the turn is over, in the order emitted', async () => {
    const seen: string[] = [];
    const events = new RunEvents((error) => {
      throw error;
    });
    events.on(recorder(seen, 'now'));
    events.on(recorder(seen, 'later'), { deferred: true });
    for (const run of ['r1', 'r2']) {
      events.emit(claimed(run));
      events.emit(started(run));
    }
    assert.deepEqual(seen, ['now claimed r1', 'now started r1', 'now claimed r2', 'now started r2']);
    await Promise.resolve();
    assert.deepEqual(seen.slice(4), ['later claimed r1', 'later started r1', 'later claimed r2', 'later started r2']);
  });

  it('any other event delivers what is queued first, so no subscriber sees events out of order', () => {
    const seen: string[] = [];
    const events = new RunEvents((error) => {
      throw error;
    });
    events.on(recorder(seen, 'later'), { deferred: true });
    events.emit(started('r1'));
    events.emit(cancelled('r2'));
    assert.deepEqual(seen, ['later started r1', 'later cancelled r2']);
  });

  it('a deferred handler that throws is reported, and the rest of the queue still delivered', async () => {
    const errors: string[] = [];
    const seen: string[] = [];
    const events = new RunEvents((error, type) => void errors.push(`${type}: ${(error as Error).message}`));
    events.on({ started: (event) => {
      if (event.run === 'r1') throw new Error('boom');
      seen.push(event.run);
    } }, { deferred: true });
    events.emit(started('r1'));
    events.emit(started('r2'));
    await Promise.resolve();
    assert.deepEqual([errors, seen], [['started: boom'], ['r2']]);
  });
});
