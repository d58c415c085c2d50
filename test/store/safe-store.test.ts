// SafeStore with an injected clock, a fake log and fake stores: a failing database never throws
// at the daemon, is reported at most once a minute, and is reopened after RETRY_MS.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Log, LogFields } from '../../src/log.js';
import { SafeStore } from '../../src/store/safe-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { ClaimResult, FinishedRun, RunOutput, RunRecord, RunStore } from '../../src/store/types.js';

/** Mirrors src/store/safe-store.ts: reopen after 30 s, report at most once a minute. */
const RETRY_MS = 30_000;
const REPORT_MS = 60_000;
const T0 = Date.UTC(2025, 5, 15, 2, 0, 0);

interface Logged {
  at: number;
  level: string;
  fields: LogFields;
  msg: string;
}

class Clock {
  constructor(public ms: number) {}
  readonly now = (): number => this.ms;
}

function fakeLog(clock: Clock): Log & { records: Logged[] } {
  const records: Logged[] = [];
  const method =
    (level: string) =>
    (fields: LogFields, msg: string): void => {
      records.push({ at: clock.ms, level, fields, msg });
    };
  return {
    records,
    trace: method('trace'),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    fatal: method('fatal'),
    flush: (callback) => callback?.(),
    level: 'info',
    reopen: () => undefined,
    dropped: 0,
  };
}

const RECORD: RunRecord = {
  runId: 'r1',
  job: 'j',
  scheduledAt: new Date(T0).toISOString(),
  startedAt: null,
  finishedAt: null,
  outcome: 'running',
  exitCode: null,
  signal: null,
  durationMs: null,
  reason: null,
  pid: null,
  attempt: 1,
};
const OUTPUT: RunOutput = { head: 'hi\n', tail: '', bytes: 3, truncated: false };
const FINISHED: FinishedRun = { outcome: 'ok', exitCode: 0, signal: null, startedAt: T0, finishedAt: T0 + 10, durationMs: 10, attempt: 1, output: OUTPUT };

/** A store that notes every call; the methods named in `throwing` throw `error`. */
class FakeStore implements RunStore {
  readonly node = 'fake-node';
  readonly calls: string[] = [];
  closed = 0;
  /** What a claim that works comes to. */
  claimAnswer: ClaimResult = 'won';
  constructor(
    private readonly throwing: ReadonlySet<string> = new Set(),
    private readonly error: Error = new Error('database or disk is full'),
  ) {}
  /** Throws at the call, as SqliteStore does: its SQL runs inside the call. */
  private note<T>(name: string, detail: string, value: T): Promise<T> {
    if (this.throwing.has(name)) throw this.error;
    this.calls.push(detail === '' ? name : `${name} ${detail}`);
    return Promise.resolve(value);
  }
  claim(runId: string): Promise<ClaimResult> {
    return this.note('claim', runId, this.claimAnswer);
  }
  started(runId: string): Promise<void> {
    return this.note('started', runId, undefined);
  }
  finished(runId: string): Promise<void> {
    return this.note('finished', runId, undefined);
  }
  retrying(runId: string): Promise<void> {
    return this.note('retrying', runId, undefined);
  }
  cancelled(runId: string): Promise<void> {
    return this.note('cancelled', runId, undefined);
  }
  mailed(runId: string): Promise<void> {
    return this.note('mailed', runId, undefined);
  }
  notRun(job: string, _at: number, outcome: string): Promise<void> {
    return this.note('notRun', `${job} ${outcome}`, undefined);
  }
  recoverInFlight(): Promise<RunRecord[]> {
    return this.note('recoverInFlight', '', [RECORD]);
  }
  serviceStarted(runId: string): Promise<void> {
    return this.note('serviceStarted', runId, undefined);
  }
  servicesInFlight(): Promise<RunRecord[]> {
    return this.note('servicesInFlight', '', []);
  }
  serviceLost(runId: string): Promise<void> {
    return this.note('serviceLost', runId, undefined);
  }
  lastSlots(): Promise<Map<string, number>> {
    return this.note('lastSlots', '', new Map([['j', T0]]));
  }
  heartbeat(at: number): Promise<void> {
    return this.note('heartbeat', String(at), undefined);
  }
  setCrontab(path: string): Promise<void> {
    return this.note('setCrontab', path, undefined);
  }
  crontab(): Promise<string | null> {
    return this.note('crontab', '', '/etc/schedd/crontab');
  }
  lastHeartbeat(): Promise<number | null> {
    return this.note('lastHeartbeat', '', T0);
  }
  history(): Promise<RunRecord[]> {
    return this.note('history', '', [RECORD]);
  }
  output(): Promise<{ run: RunRecord; output: RunOutput } | null> {
    return this.note('output', '', { run: RECORD, output: OUTPUT });
  }
  lastRuns(): Promise<Map<string, RunRecord>> {
    return this.note('lastRuns', '', new Map([['j', RECORD]]));
  }
  recentFailures(): Promise<RunRecord[]> {
    return this.note('recentFailures', '', [RECORD]);
  }
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
}

/**
 * A store that batches its writes and commits at the end of the turn, as SqliteStore does: a
 * failed commit has no caller to throw to and is reported through onError.
 */
class BatchingStore extends FakeStore {
  onError: (error: unknown) => void = () => undefined;
  /** The commit at the end of the turn fails: the batch is rolled back. */
  failCommit(error: Error): void {
    this.calls.length = 0;
    this.onError(error);
  }
}

/** Every write method once; returns how many writes that was. */
/** A SafeStore that makes a new store with `make` at every open, each kept in `opened`. */
function reopening<S extends FakeStore>(make: () => S, log: Log, clock: Clock): { safe: SafeStore; opened: S[] } {
  const opened: S[] = [];
  const safe = new SafeStore(
    () => {
      opened.push(make());
      return opened.at(-1)!;
    },
    log,
    clock.now,
  );
  return { safe, opened };
}

function writeAll(store: RunStore, tag: string): number {
  store.claim(`c-${tag}`, 'j', T0);
  store.started(`s-${tag}`, 1, T0, 1);
  store.finished(`f-${tag}`, FINISHED);
  store.cancelled(`x-${tag}`, 'schedd is stopping');
  store.notRun('j', T0, 'missed', 'schedd was not running');
  store.heartbeat(T0);
  store.setCrontab('/etc/schedd/crontab');
  return 7;
}

async function assertReadsEmpty(store: RunStore): Promise<void> {
  assert.deepEqual(await store.recoverInFlight(() => 'lost'), []);
  assert.deepEqual(await store.lastSlots(), new Map());
  assert.equal(await store.lastHeartbeat(), null);
  assert.deepEqual(await store.history(undefined, 10), []);
  assert.equal(await store.output('j'), null);
  assert.deepEqual(await store.lastRuns(), new Map());
  assert.equal(await store.crontab(), null);
}

const brief = (records: readonly Logged[]): { at: number; level: string; msg: string; count?: number; reason?: string }[] =>
  records.map((r) => ({ at: r.at - T0, level: r.level, msg: r.msg, ...(r.fields.count === undefined ? {} : { count: r.fields.count }), ...(r.fields.reason === undefined ? {} : { reason: r.fields.reason }) }));

const unavailable = (message: string): string => `run history unavailable (${message}); jobs keep running, retrying in 30 s`;

describe('SafeStore', () => {
  it('a failing open is logged once; writes are dropped and reads empty; after RETRY_MS it reopens and logs the dropped count', async () => {
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    const openError = new Error('unable to open database file');
    const inner = new FakeStore();
    let opens = 0;
    let failing = true;
    const safe = new SafeStore(
      () => {
        opens++;
        if (failing) throw openError;
        return inner;
      },
      log,
      clock.now,
    );

    let dropped = writeAll(safe, 'a');
    assert.equal(opens, 1);
    assert.equal(safe.healthy, false);
    assert.deepEqual(brief(log.records), [{ at: 0, level: 'error', msg: unavailable('unable to open database file'), reason: 'open' }]);
    assert.equal(log.records[0]!.fields.err, openError);

    // Within RETRY_MS: no new attempt, nothing logged, reads empty.
    clock.ms = T0 + RETRY_MS - 1;
    dropped += writeAll(safe, 'b');
    await assertReadsEmpty(safe);
    assert.equal(opens, 1);

    // At RETRY_MS it tries again; still failing, and within a minute of the report: silent.
    clock.ms = T0 + RETRY_MS;
    dropped += writeAll(safe, 'c');
    assert.equal(opens, 2);
    assert.equal(log.records.length, 1);

    // The fault clears: the next call after RETRY_MS reopens, says what was lost, and writes.
    failing = false;
    clock.ms = T0 + 2 * RETRY_MS - 1;
    dropped += writeAll(safe, 'd');
    assert.equal(opens, 2);
    clock.ms = T0 + 2 * RETRY_MS;
    safe.claim('after', 'j', T0);
    assert.equal(opens, 3);
    assert.equal(safe.healthy, true);
    assert.deepEqual(brief(log.records.slice(1)), [
      { at: 2 * RETRY_MS, level: 'warn', msg: `run history available again (${dropped} records were not written meanwhile)`, count: dropped },
    ]);
    assert.equal(dropped, 28);
    safe.heartbeat(T0 + 5);
    assert.deepEqual(await safe.history(undefined, 10), [RECORD]);
    assert.deepEqual(inner.calls, ['claim after', `heartbeat ${T0 + 5}`, 'history']);
    assert.equal(log.records.length, 2);
  });

  it('a lasting open failure is retried every 30 s and reported once a minute', async () => {
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    let opens = 0;
    const safe = new SafeStore(
      () => {
        opens++;
        throw new Error('file is not a database');
      },
      log,
      clock.now,
    );
    for (let s = 0; s <= 300; s += 5) {
      clock.ms = T0 + s * 1000;
      safe.heartbeat(clock.ms);
      assert.deepEqual(await safe.lastSlots(), new Map());
    }
    assert.equal(opens, 11, 'one attempt at 0 s, then one every 30 s');
    assert.deepEqual(
      log.records.map((r) => [r.at - T0, r.level, r.msg]),
      [0, 60, 120, 180, 240, 300].map((s) => [s * 1000, 'error', unavailable('file is not a database')]),
    );
  });

  it('an error thrown by a write is caught, closes the store, and is logged at most once a minute', async () => {
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    const full = new Error('database or disk is full');
    const opened: FakeStore[] = [];
    const safe = new SafeStore(
      () => {
        const store = new FakeStore(new Set(['claim']), full);
        opened.push(store);
        return store;
      },
      log,
      clock.now,
    );
    safe.heartbeat(T0);
    assert.deepEqual(opened[0]!.calls, [`heartbeat ${T0}`]);
    assert.doesNotThrow(() => safe.claim('r1', 'j', T0));
    assert.equal(opened[0]!.closed, 1, 'the failed store is closed');
    assert.equal(safe.healthy, false);
    assert.equal(log.records.length, 1);
    assert.equal(log.records[0]!.fields.err, full);
    assert.deepEqual(brief(log.records), [{ at: 0, level: 'error', msg: unavailable('database or disk is full'), reason: 'claim' }]);

    // Five minutes of a claim every 10 s that keeps failing: never thrown, reported once a minute.
    safe.started('r1', 1, T0, 1);
    assert.deepEqual(opened[0]!.calls, [`heartbeat ${T0}`], 'nothing reaches a closed store');
    for (let s = 10; s <= 300; s += 10) {
      clock.ms = T0 + s * 1000;
      assert.doesNotThrow(() => safe.claim(`r${s}`, 'j', clock.ms));
      assert.doesNotThrow(() => safe.finished(`r${s}`, FINISHED));
    }
    const errors = log.records.filter((r) => r.level === 'error');
    assert.deepEqual(
      errors.map((r) => [r.at - T0, r.fields.reason]),
      [0, 60, 120, 180, 240, 300].map((s) => [s * 1000, 'claim']),
    );
    for (let i = 1; i < errors.length; i++) assert.ok(errors[i]!.at - errors[i - 1]!.at >= REPORT_MS);
    assert.equal(opened.length, 11, 'reopened every 30 s');
    assert.ok(opened.every((store) => store.closed === 1));
  });

  it('a read that throws is reported and returns the empty value', async () => {
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    const safe = new SafeStore(() => new FakeStore(new Set(['history', 'lastSlots'])), log, clock.now);
    assert.deepEqual(await safe.history('j', 5), []);
    assert.deepEqual(await safe.lastSlots(), new Map());
    assert.deepEqual(brief(log.records), [{ at: 0, level: 'error', msg: unavailable('database or disk is full'), reason: 'history' }]);
  });

  it('close closes the store; the next call opens it again without a recovery message', async () => {
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    const { safe, opened } = reopening(() => new FakeStore(), log, clock);
    safe.claim('a', 'j', T0);
    safe.close();
    assert.equal(opened[0]!.closed, 1);
    assert.equal(safe.healthy, false);
    safe.claim('b', 'j', T0);
    assert.equal(opened.length, 2);
    assert.deepEqual(opened[1]!.calls, ['claim b']);
    assert.deepEqual(log.records, []);
  });

  it('a commit that fails at the end of the turn is reported (reason commit) and the store closed and reopened later', async () => {
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    const { safe, opened } = reopening(() => new BatchingStore(), log, clock);
    safe.claim('a', 'j', T0);
    safe.notRun('j', T0 + 1000, 'skipped', 'previous run still active (overlap=skip)');
    const full = new Error('database or disk is full');
    opened[0]!.failCommit(full);
    assert.equal(safe.healthy, false);
    assert.equal(opened[0]!.closed, 1);
    assert.deepEqual(brief(log.records), [{ at: 0, level: 'error', msg: unavailable('database or disk is full'), reason: 'commit' }]);
    assert.equal(log.records[0]!.fields.err, full);
    safe.heartbeat(T0 + 1);
    assert.equal(opened.length, 1);
    clock.ms = T0 + RETRY_MS;
    safe.heartbeat(T0 + 2);
    assert.equal(opened.length, 2);
    assert.deepEqual(opened[1]!.calls, [`heartbeat ${T0 + 2}`]);
    assert.equal(log.records.length, 2);
    assert.equal(log.records[1]!.level, 'warn');
  });

  it('regression: records rolled back by a failed commit are not counted in "records were not written"', async () => {
    // SafeStore counts only the calls it dropped itself; the claim and skip written into the
    // batch that failed to commit are lost too, but the recovery message leaves them out.
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    const { safe, opened } = reopening(() => new BatchingStore(), log, clock);
    safe.claim('a', 'j', T0);
    safe.notRun('j', T0 + 1000, 'skipped', 'previous run still active (overlap=skip)');
    opened[0]!.failCommit(new Error('database or disk is full'));
    safe.heartbeat(T0 + 1);
    clock.ms = T0 + RETRY_MS;
    safe.heartbeat(T0 + 2);
    assert.deepEqual(
      log.records.filter((r) => r.level === 'warn').map((r) => [r.fields.count, r.msg]),
      [[3, 'run history available again (3 records were not written meanwhile)']],
    );
  });

  it('regression: "run history available again" is logged every 30 s while every write still fails (disk full)', async () => {
    // A full disk lets the file open but fails each write. Each retry logs "available again"
    // as soon as the open succeeds; the write then fails and, within a minute of the last
    // report, silently: the last word in the log is often that the history works.
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    let full = true;
    const safe = new SafeStore(() => new FakeStore(full ? new Set(['claim', 'finished']) : new Set()), log, clock.now);
    for (let s = 0; s <= 300; s += 10) {
      clock.ms = T0 + s * 1000;
      safe.claim(`r${s}`, 'j', clock.ms);
    }
    const claimedBack = log.records.filter((r) => r.msg.startsWith('run history available again'));
    assert.deepEqual(
      claimedBack.map((r) => r.at - T0),
      [],
      `"available again" logged at ${claimedBack.map((r) => `${(r.at - T0) / 1000} s`).join(', ')} while no write succeeded`,
    );
    full = false;
    clock.ms = T0 + 330_000;
    safe.claim('ok', 'j', clock.ms);
    assert.equal(log.records.filter((r) => r.msg.startsWith('run history available again')).length, 1);
  });

  it('claim: unrecorded while the store is down (open failing, claim throwing); the store\'s own answer once it works', async () => {
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    let failing = true;
    const inner = new FakeStore(new Set(['claim']));
    const { safe } = reopening(
      () => {
        if (failing) throw new Error('unable to open database file');
        return inner;
      },
      log,
      clock,
    );
    assert.equal(await safe.claim('a', 'j', T0), 'unrecorded', 'the open fails');
    assert.equal(await safe.claim('b', 'j', T0), 'unrecorded', 'within RETRY_MS');
    failing = false;
    clock.ms = T0 + RETRY_MS;
    assert.equal(await safe.claim('c', 'j', T0), 'unrecorded', 'the claim throws');
    assert.equal(safe.healthy, false);
    const working = new FakeStore();
    const { safe: again } = reopening(() => working, log, clock);
    assert.equal(await again.claim('d', 'j', T0), 'won');
    working.claimAnswer = 'lost';
    assert.equal(await again.claim('e', 'j', T0), 'lost', 'lost is passed on, not turned into unrecorded');
    assert.deepEqual(working.calls, ['claim d', 'claim e']);
  });

  it('claim: a store that rejects (rather than throwing at the call) resolves unrecorded, is reported, closed and reopened later', async () => {
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    const gone = new Error('connection terminated');
    class RejectingStore extends FakeStore {
      override claim(): Promise<ClaimResult> {
        return Promise.reject(gone);
      }
      override history(): Promise<RunRecord[]> {
        return Promise.reject(gone);
      }
    }
    const { safe, opened } = reopening(() => new RejectingStore(), log, clock);
    assert.equal(await safe.claim('a', 'j', T0), 'unrecorded');
    assert.equal(safe.healthy, false);
    assert.equal(opened[0]!.closed, 1);
    assert.deepEqual(brief(log.records), [{ at: 0, level: 'error', msg: unavailable('connection terminated'), reason: 'claim' }]);
    clock.ms = T0 + RETRY_MS;
    assert.deepEqual(await safe.history(undefined, 10), [], 'a rejected read is the empty value');
    assert.equal(opened.length, 2);
    assert.equal(safe.healthy, false);
  });

  it('node: the opened store\'s; before any open, the host name (as SqliteStore\'s default)', async () => {
    const clock = new Clock(T0);
    const { safe } = reopening(() => new FakeStore(), fakeLog(clock), clock);
    assert.equal(safe.node, hostname());
    await safe.heartbeat(T0);
    assert.equal(safe.node, 'fake-node');
  });

  it('claim on a SqliteStore: unrecorded while the file is damaged, won (then lost for the same slot) after it recovers', async (t: TestContext) => {
    const dir = mkdtempSync(join(tmpdir(), 'schedd-safe-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'history.db');
    writeFileSync(path, 'not a database, '.repeat(512));
    const clock = new Clock(T0);
    const log = fakeLog(clock);
    const safe = new SafeStore(() => new SqliteStore(path, { node: 'n1' }), log, clock.now);
    t.after(() => safe.close());
    assert.equal(await safe.claim('r1', 'j', T0), 'unrecorded');
    await safe.finished('r1', FINISHED);
    assert.deepEqual(await safe.history(undefined, 10), []);
    rmSync(path);
    clock.ms = T0 + RETRY_MS;
    assert.equal(await safe.claim('r2', 'j', T0), 'won');
    assert.equal(await safe.claim('r3', 'j', T0), 'lost');
    assert.equal(safe.node, 'n1');
    assert.deepEqual((await safe.history(undefined, 10)).map((run) => run.runId), ['r2']);
    assert.deepEqual(brief(log.records), [
      { at: 0, level: 'error', msg: unavailable('file is not a database'), reason: 'open' },
      { at: RETRY_MS, level: 'warn', msg: 'run history available again (2 records were not written meanwhile)', count: 2 },
    ]);
  });
});
