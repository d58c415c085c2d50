// The dispatcher's policies on a fake clock and a fake spawner: overlap x retries x
// --max-concurrent x stop, the claim's outcomes, catch-up order and forget. Exact events,
// spawns and delays; no process, no wall clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deferred, harness, job, settle, slot, T0 } from './helpers.js';

const at = (ms: number): string => new Date(ms).toISOString();

describe('dispatcher: overlap', () => {
  it('skip (the default): a slot while the job runs is not run, and says why', async () => {
    const h = harness();
    const a = job('a');
    assert.equal(h.dispatcher.fire(a, slot(T0)).status, 'started');
    await settle();
    assert.deepEqual(h.dispatcher.fire(a, slot(T0 + 60_000)), { status: 'skipped', reason: 'previous run still active (overlap=skip)' });
    h.handles[0]!.end('ok');
    await settle();
    assert.equal(h.handles.length, 1);
    assert.deepEqual(h.brief(), ['claimed a won', 'started a attempt 1', 'notRun a skipped: previous run still active (overlap=skip)', 'finished a ok attempt 1 final']);
    assert.equal(h.dispatcher.isActive('a'), false);
  });

  it('allow: a second run alongside the first', async () => {
    const h = harness();
    const a = job('a', 'overlap=allow');
    h.dispatcher.fire(a, slot(T0));
    h.dispatcher.fire(a, slot(T0 + 1000));
    await settle();
    assert.deepEqual(h.handles.map((x) => x.scheduledAt), [at(T0), at(T0 + 1000)]);
    assert.equal(h.dispatcher.running().length, 2);
  });

  it('queue: one slot waits for the job to go idle, a further one is skipped', async () => {
    const h = harness();
    const a = job('a', 'overlap=queue');
    h.dispatcher.fire(a, slot(T0));
    await settle();
    assert.deepEqual(h.dispatcher.fire(a, slot(T0 + 1000)), { status: 'queued', reason: 'previous run still active (overlap=queue)' });
    assert.deepEqual(h.dispatcher.fire(a, slot(T0 + 2000)), { status: 'skipped', reason: 'a run is already queued (overlap=queue)' });
    h.handles[0]!.end('ok');
    await settle();
    assert.deepEqual(h.handles.map((x) => x.scheduledAt), [at(T0), at(T0 + 1000)]);
    assert.deepEqual(h.brief(), [
      'claimed a won',
      'started a attempt 1',
      'pending a queued',
      'notRun a skipped: a run is already queued (overlap=queue)',
      'finished a ok attempt 1 final',
      'claimed a won',
      'started a attempt 1',
    ]);
  });

  it('replace: the running run is stopped, the new one starts once it has exited', async () => {
    const h = harness();
    const a = job('a', 'overlap=replace');
    h.dispatcher.fire(a, slot(T0));
    await settle();
    assert.equal(h.dispatcher.fire(a, slot(T0 + 1000)).status, 'replacing');
    assert.deepEqual(h.handles[0]!.stops, ['replaced by a newer run']);
    assert.equal(h.handles.length, 1, 'not before the replaced run exited');
    h.handles[0]!.end('killed');
    await settle();
    assert.deepEqual(h.handles.map((x) => x.scheduledAt), [at(T0), at(T0 + 1000)]);
    assert.deepEqual(h.brief().slice(2), ['pending a replacing', 'finished a killed attempt 1 final', 'claimed a won', 'started a attempt 1']);
  });
});

describe('dispatcher: retries', () => {
  it('retries=2: attempts after 1 s and 2 s on the clock, then the last failure is final', async () => {
    const h = harness();
    const a = job('a', 'retries=2');
    const run = h.dispatcher.fire(a, slot(T0)).run;
    await settle();
    h.handles[0]!.end('failed');
    await settle();
    h.clock.advance(999);
    assert.equal(h.handles.length, 1);
    h.clock.advance(1);
    assert.equal(h.handles.length, 2);
    h.handles[1]!.end('timeout', null, 'timed out after 5s');
    await settle();
    h.clock.advance(2000);
    h.handles[2]!.end('failed', 7);
    await settle();
    assert.deepEqual(h.clock.delays, [1000, 2000]);
    assert.deepEqual(h.brief(), [
      'claimed a won',
      'started a attempt 1',
      'finished a failed attempt 1 retry in 1000',
      'started a attempt 2',
      'finished a timeout attempt 2 retry in 2000',
      'started a attempt 3',
      'finished a failed attempt 3 final',
    ]);
    const finished = h.events.filter((e) => e.type === 'finished');
    assert.deepEqual(
      finished.map((e) => (e.final ? null : [e.retry.attemptId, e.retry.reason])),
      [[`${run}.1`, 'attempt 1/3 failed (exit 1); retried after 1s'], [`${run}.2`, 'attempt 2/3 timed out after 5s; retried after 2s'], null],
    );
    assert.ok(h.handles.every((x) => x.spec.env.SCHEDD_RUN_ID === run), 'every attempt is the same run');
  });

  it('a killed run is not retried; ok is final', async () => {
    const h = harness();
    h.dispatcher.fire(job('a', 'retries=3'), slot(T0));
    h.dispatcher.fire(job('b', 'retries=3'), slot(T0));
    await settle();
    h.handles[0]!.end('killed');
    h.handles[1]!.end('ok');
    await settle();
    assert.deepEqual(h.brief().slice(4), ['finished a killed attempt 1 final', 'finished b ok attempt 1 final']);
    assert.deepEqual(h.clock.delays, []);
  });
});

describe('dispatcher: --max-concurrent', () => {
  it('runs beyond the cap wait, in order, and start as places free up (a retry waits too)', async () => {
    const h = harness({ maxConcurrent: 1 });
    const a = job('a', 'retries=1');
    h.dispatcher.fire(a, slot(T0));
    h.dispatcher.fire(job('b'), slot(T0));
    h.dispatcher.fire(job('c'), slot(T0));
    await settle();
    assert.deepEqual(h.handles.map((x) => x.spec.env.SCHEDD_JOB_ID), ['a']);
    h.handles[0]!.end('failed');
    await settle();
    assert.deepEqual(h.handles.map((x) => x.spec.env.SCHEDD_JOB_ID), ['a', 'b']);
    h.clock.advance(1000);
    h.handles[1]!.end('ok');
    await settle();
    h.handles[2]!.end('ok');
    await settle();
    assert.deepEqual(h.handles.map((x) => x.spec.env.SCHEDD_JOB_ID), ['a', 'b', 'c', 'a']);
    assert.deepEqual(h.brief(), [
      'claimed a won',
      'started a attempt 1',
      'claimed b won',
      'pending b max-concurrent',
      'claimed c won',
      'pending c max-concurrent',
      'finished a failed attempt 1 retry in 1000',
      'started b attempt 1',
      'pending a max-concurrent',
      'finished b ok attempt 1 final',
      'started c attempt 1',
      'finished c ok attempt 1 final',
      'started a attempt 2',
    ]);
  });

  it('a prepared process is released at its slot; a held one counts against the cap', async () => {
    const h = harness({ maxConcurrent: 1 });
    const a = job('a');
    h.dispatcher.prepare(a, slot(T0));
    h.dispatcher.prepare(job('b'), slot(T0));
    assert.equal(h.handles.length, 1, 'b is not prepared: the cap is taken by a held process');
    h.clock.advance(5);
    h.dispatcher.fire(a, slot(T0));
    assert.equal(h.handles[0]!.released, false, 'not before the claim');
    await settle();
    assert.deepEqual([h.handles.length, h.handles[0]!.released, h.handles[0]!.aborted], [1, true, false]);
  });

  it('a store that answers a claim at once: each job of a burst is released within its own fire, not after the others are claimed', () => {
    const h = harness({ claimsAtOnce: true });
    const burst = ['a', 'b', 'c'].map((name) => job(name));
    for (const entry of burst) h.dispatcher.prepare(entry, slot(T0));
    const releasedAfterEachFire = burst.map((entry, i) => {
      h.dispatcher.fire(entry, slot(T0));
      return h.handles.map((handle) => handle.released).slice(0, i + 2);
    });
    assert.deepEqual(releasedAfterEachFire, [
      [true, false],
      [true, true, false],
      [true, true, true],
    ]);
    assert.deepEqual(h.brief().slice(0, 2), ['claimed a won', `started a attempt 1`]);
  });

  it('a prepared process for another slot is aborted, and the run spawns afresh', async () => {
    const h = harness();
    const a = job('a');
    h.dispatcher.prepare(a, slot(T0));
    h.dispatcher.fire(a, slot(T0 + 1000));
    await settle();
    assert.deepEqual([h.handles.length, h.handles[0]!.aborted, h.handles[1]!.released, h.handles[1]!.spec.gated], [2, true, false, false]);
  });
});

describe('dispatcher: stop', () => {
  it('close cancels what is not running (queued, retry wait, waiting); terminateAll stops the rest, recorded interrupted, no retry', async () => {
    const h = harness({ maxConcurrent: 2 });
    h.dispatcher.fire(job('q', 'overlap=queue'), slot(T0));
    h.dispatcher.fire(job('r', 'retries=2'), slot(T0));
    h.dispatcher.fire(job('w'), slot(T0));
    await settle();
    h.dispatcher.fire(job('q', 'overlap=queue'), slot(T0 + 1000));
    h.handles[1]!.end('failed');
    await settle();
    // r is in its retry wait; w started in r's place.
    h.dispatcher.close();
    assert.deepEqual(h.dispatcher.fire(job('x'), slot(T0)), { status: 'skipped', reason: 'schedd is stopping' });
    h.dispatcher.terminateAll('schedd is stopping');
    assert.deepEqual(h.handles.map((x) => x.stops), [['schedd is stopping'], [], ['schedd is stopping']]);
    h.handles[0]!.end('killed');
    h.handles[2]!.end('killed');
    await settle();
    await h.dispatcher.idle();
    h.clock.advance(10_000);
    assert.equal(h.handles.length, 3);
    assert.deepEqual(h.brief().slice(5), [
      'pending w max-concurrent',
      'pending q queued',
      'finished r failed attempt 1 retry in 1000',
      'started w attempt 1',
      'cancelled r: schedd is stopping',
      'finished q interrupted attempt 1 final',
      'finished w interrupted attempt 1 final',
    ]);
  });

  it('a stop while the claim is pending: the run never starts, its prepared process is aborted', async () => {
    const h = harness();
    const claim = deferred();
    h.claims.push(claim);
    const a = job('a');
    h.dispatcher.prepare(a, slot(T0));
    assert.equal(h.dispatcher.fire(a, slot(T0)).status, 'started');
    await settle();
    h.dispatcher.close();
    await h.dispatcher.idle();
    claim.resolve('won');
    await settle();
    assert.deepEqual([h.handles.length, h.handles[0]!.released, h.handles[0]!.aborted], [1, false, true]);
    assert.deepEqual(h.brief(), ['cancelled a: schedd is stopping']);
  });

  it('a forget while the claim is pending: the run never starts', async () => {
    const h = harness();
    const claim = deferred();
    h.claims.push(claim);
    h.dispatcher.fire(job('a'), slot(T0));
    h.dispatcher.forget('a');
    claim.resolve('won');
    await settle();
    assert.equal(h.handles.length, 0);
    assert.deepEqual(h.brief(), ['cancelled a: job removed from the crontab', 'forgotten a']);
  });

  it('a forgotten job finishes its running run without retries; its queued slot is dropped', async () => {
    const h = harness();
    const a = job('a', 'retries=3 overlap=queue');
    h.dispatcher.fire(a, slot(T0));
    await settle();
    h.dispatcher.fire(a, slot(T0 + 1000));
    h.dispatcher.forget('a');
    h.handles[0]!.end('failed');
    await settle();
    assert.equal(h.handles.length, 1);
    assert.deepEqual(h.brief().slice(2), ['pending a queued', 'forgotten a', 'finished a failed attempt 1 final']);
    assert.equal(h.dispatcher.isActive('a'), false);
  });
});

describe('dispatcher: the claim', () => {
  it('lost: not run, a skip naming the claim (already in the history), and the job stays free', async () => {
    const h = harness();
    h.claims.push('lost');
    const a = job('a');
    h.dispatcher.fire(a, slot(T0));
    await settle();
    assert.equal(h.dispatcher.isActive('a'), false);
    h.dispatcher.fire(a, slot(T0 + 1000));
    await settle();
    assert.equal(h.handles.length, 1);
    assert.deepEqual(h.brief(), ['notRun a skipped: slot already claimed (by another run) (recorded)', 'claimed a won', 'started a attempt 1']);
  });

  it('lost, from a store that answers at once: fire (and so `schedd run`) says skipped, not started', () => {
    const h = harness({ claimsAtOnce: true });
    h.claims.push('lost');
    const a = job('a');
    h.dispatcher.prepare(a, slot(T0));
    assert.deepEqual(h.dispatcher.fire(a, slot(T0)), { status: 'skipped', reason: 'slot already claimed (by another run)' });
    assert.deepEqual([h.handles[0]!.aborted, h.dispatcher.isActive('a')], [true, false]);
    assert.deepEqual(h.dispatcher.fire(a, slot(T0 + 1000)).status, 'started');
  });

  it('unrecorded: runs anyway by default; skipped under unrecorded=skip', async () => {
    const h = harness();
    h.claims.push('unrecorded');
    h.dispatcher.fire(job('a'), slot(T0));
    await settle();
    assert.deepEqual(h.brief(), ['claimed a unrecorded', 'started a attempt 1']);
    const s = harness({ unrecorded: 'skip' });
    s.claims.push('unrecorded');
    s.dispatcher.fire(job('a'), slot(T0));
    await settle();
    assert.deepEqual([s.handles.length, ...s.brief()], [0, 'notRun a skipped: run history unavailable (unrecorded=skip)']);
  });
});

describe('dispatcher: catch-up', () => {
  it('missed slots run oldest first, one after another; a slot meanwhile meets the overlap policy', async () => {
    const h = harness();
    const a = job('a');
    h.dispatcher.catchUp(a, [T0, T0 + 60_000, T0 + 120_000]);
    await settle();
    assert.equal(h.dispatcher.fire(a, slot(T0 + 180_000)).status, 'skipped');
    for (let n = 0; n < 3; n++) {
      h.handles[n]!.end('ok');
      await settle();
    }
    assert.deepEqual(h.handles.map((x) => x.scheduledAt), [at(T0), at(T0 + 60_000), at(T0 + 120_000)]);
    const triggers = h.events.flatMap((e) => (e.type === 'started' ? [e.trigger.kind] : []));
    assert.deepEqual(triggers, ['catch-up', 'catch-up', 'catch-up']);
  });

  it('jitter delays the run on the clock, the same for a job on a host every time', async () => {
    const h = harness();
    h.dispatcher.fire(job('a', 'jitter=30s'), slot(T0));
    await settle();
    const [delayMs] = h.clock.delays;
    assert.ok(delayMs !== undefined && delayMs >= 0 && delayMs < 30_000);
    assert.equal(h.handles.length, 0);
    h.clock.advance(delayMs);
    assert.equal(h.handles.length, 1);
    const again = harness();
    again.dispatcher.fire(job('a', 'jitter=30s'), slot(T0));
    await settle();
    assert.deepEqual(again.clock.delays, [delayMs]);
  });
});
