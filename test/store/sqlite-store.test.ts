// SqliteStore on a temporary file: what each call records, retention, migrations, read-only use.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/schema.js';
import { DEFAULT_KEEP_RUNS, SqliteStore, type StoreOptions } from '../../src/store/sqlite-store.js';
import type { ClaimResult, FinishedRun, RunOutput, RunRecord } from '../../src/store/types.js';
import { record } from '../history/helpers.js';

// Tests run from dist/test/store/, fixtures stay in the source tree.
const fixturesDir = fileURLToPath(new URL('../../../test/fixtures/history/', import.meta.url));

/** A fixed instant for slots: 2025-06-15T02:00:00Z. */
const T = Date.UTC(2025, 5, 15, 2, 0, 0);
/** What the store's own clock (Date.now) reads where a test pins it. */
const NOW = Date.UTC(2025, 5, 20, 12, 0, 0);
const KIB16 = 16 * 1024;

const iso = (ms: number): string => new Date(ms).toISOString();

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A store on a fresh file, closed after the test. */
function openStore(t: TestContext, options: StoreOptions = {}): { store: SqliteStore; path: string } {
  const path = join(tempDir(t), 'history.db');
  const store = new SqliteStore(path, options);
  let closed = false;
  const close = store.close.bind(store);
  store.close = async () => {
    if (!closed) await close();
    closed = true;
  };
  t.after(() => store.close());
  return { store, path };
}

function output(head: string, overrides: Partial<RunOutput> = {}): RunOutput {
  return { head, tail: '', bytes: Buffer.byteLength(head), truncated: false, ...overrides };
}

function finishedRun(overrides: Partial<FinishedRun> = {}): FinishedRun {
  return { outcome: 'ok', exitCode: 0, signal: null, startedAt: T, finishedAt: T + 100, durationMs: 100, attempt: 1, output: output(''), ...overrides };
}

/** Exact comparison including key order, as `schedd history --json` prints the records. */
function assertJson(actual: unknown, expected: unknown): void {
  assert.equal(JSON.stringify(actual, null, 1), JSON.stringify(expected, null, 1));
}

/** A claimed, started and finished run. */
function completeRun(store: SqliteStore, runId: string, job: string, scheduledAt: number, run: Partial<FinishedRun> = {}): void {
  store.claim(runId, job, scheduledAt);
  store.started(runId, 1000, scheduledAt + 5, 1);
  store.finished(runId, finishedRun({ startedAt: scheduledAt + 5, finishedAt: scheduledAt + 105, ...run }));
}

/** Lets the store's end-of-turn commit run. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const slotsOf = (runs: readonly RunRecord[]): number[] => runs.map((run) => Date.parse(run.scheduledAt));

describe('SqliteStore: recording runs', () => {
  it('claim, started and finished make one record with every field exact', async (t) => {
    const { store } = openStore(t);
    store.claim('r1', 'backup', T);
    assertJson(await store.history('backup', 10), [record({ runId: 'r1', job: 'backup', scheduledAt: iso(T), outcome: 'running' })]);

    store.started('r1', 4321, T + 12, 1);
    assertJson(await store.history('backup', 10), [record({ runId: 'r1', job: 'backup', scheduledAt: iso(T), startedAt: iso(T + 12), outcome: 'running', pid: 4321 })]);

    // The finished run's own start (a retry's) replaces the first; durationMs is rounded.
    store.finished('r1', finishedRun({ outcome: 'failed', exitCode: 3, startedAt: T + 2015, finishedAt: T + 3515, durationMs: 1500.4, attempt: 2, output: output('disk full\n') }));
    assertJson(await store.history('backup', 10), [
      record({ runId: 'r1', job: 'backup', scheduledAt: iso(T), startedAt: iso(T + 2015), finishedAt: iso(T + 3515), outcome: 'failed', exitCode: 3, durationMs: 1500, pid: 4321, attempt: 2 }),
    ]);
  });

  it('records a signal and a reason (a killed run), and null for a reason not given', async (t) => {
    const { store } = openStore(t);
    completeRun(store, 'k', 'long', T, { outcome: 'timeout', exitCode: null, signal: 'SIGTERM', durationMs: 2000.5, reason: 'timed out after 2000 ms' });
    completeRun(store, 'o', 'long', T + 60_000);
    assertJson(await store.history('long', 10), [
      record({ runId: 'o', job: 'long', scheduledAt: iso(T + 60_000), startedAt: iso(T + 60_005), finishedAt: iso(T + 60_105), outcome: 'ok', exitCode: 0, durationMs: 100, pid: 1000 }),
      record({ runId: 'k', job: 'long', scheduledAt: iso(T), startedAt: iso(T + 5), finishedAt: iso(T + 105), outcome: 'timeout', signal: 'SIGTERM', durationMs: 2001, reason: 'timed out after 2000 ms', pid: 1000 }),
    ]);
  });

  it('a second claim of the same run id changes nothing', async (t) => {
    const { store } = openStore(t);
    store.claim('r1', 'backup', T);
    store.claim('r1', 'other', T + 1000);
    assertJson(await store.history(undefined, 10), [record({ runId: 'r1', job: 'backup', scheduledAt: iso(T), outcome: 'running' })]);
  });

  it('notRun records skipped and missed slots with their reason, under ids of their own', async (t) => {
    const { store } = openStore(t);
    store.notRun('tick', T, 'skipped', 'previous run still active (overlap=skip)');
    store.notRun('tick', T + 1000, 'missed', 'schedd was not running');
    const [missed, skipped] = await store.history('tick', 10);
    assert.match(skipped!.runId, new RegExp(`^s${T.toString(36)}[0-9a-f]{6}$`));
    assert.match(missed!.runId, new RegExp(`^m${(T + 1000).toString(36)}[0-9a-f]{6}$`));
    assertJson(
      [missed, skipped],
      [
        record({ runId: missed!.runId, job: 'tick', scheduledAt: iso(T + 1000), outcome: 'missed', reason: 'schedd was not running' }),
        record({ runId: skipped!.runId, job: 'tick', scheduledAt: iso(T), outcome: 'skipped', reason: 'previous run still active (overlap=skip)' }),
      ],
    );
  });

  it('cancelled marks a claimed run interrupted with the reason, finished now', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const { store } = openStore(t);
    store.claim('c', 'jittered', T);
    store.cancelled('c', 'schedd is stopping');
    assertJson(await store.history('jittered', 10), [record({ runId: 'c', job: 'jittered', scheduledAt: iso(T), finishedAt: iso(NOW), outcome: 'interrupted', reason: 'schedd is stopping' })]);
  });

  it('recoverInFlight marks every running record lost with its reason and returns them as they were', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const { store } = openStore(t);
    store.claim('unstarted', 'a', T);
    store.claim('started', 'b', T + 1000);
    store.started('started', 777, T + 1010, 1);
    completeRun(store, 'done', 'a', T + 2000);
    store.notRun('a', T + 3000, 'skipped', 'previous run still active (overlap=skip)');

    const asked: string[] = [];
    const taken = await store.recoverInFlight((run) => {
      asked.push(run.runId);
      return run.pid === null ? 'never started' : `process ${run.pid} left behind`;
    });
    assert.deepEqual(asked.sort(), ['started', 'unstarted']);
    assertJson(
      taken.sort((x, y) => x.runId.localeCompare(y.runId)),
      [
        record({ runId: 'started', job: 'b', scheduledAt: iso(T + 1000), startedAt: iso(T + 1010), outcome: 'running', pid: 777 }),
        record({ runId: 'unstarted', job: 'a', scheduledAt: iso(T), outcome: 'running' }),
      ],
    );
    const byId = new Map((await store.history(undefined, 10)).map((run) => [run.runId, run]));
    assertJson(byId.get('unstarted'), record({ runId: 'unstarted', job: 'a', scheduledAt: iso(T), finishedAt: iso(NOW), outcome: 'lost', reason: 'never started' }));
    assertJson(byId.get('started'), record({ runId: 'started', job: 'b', scheduledAt: iso(T + 1000), startedAt: iso(T + 1010), finishedAt: iso(NOW), outcome: 'lost', reason: 'process 777 left behind', pid: 777 }));
    assert.equal(byId.get('done')!.outcome, 'ok');
    // Nothing is in flight any more: a second start finds nothing.
    assert.deepEqual(await store.recoverInFlight(() => 'again'), []);
  });

  it('lastSlots is the latest slot per job, whatever became of it', async (t) => {
    const { store } = openStore(t);
    assert.deepEqual(await store.lastSlots(), new Map());
    completeRun(store, 'a1', 'a', T);
    store.claim('a2', 'a', T + 3000);
    store.notRun('a', T + 5000, 'skipped', 'previous run still active (overlap=skip)');
    store.claim('b1', 'b', T + 6000);
    store.notRun('b', T + 7000, 'missed', 'schedd was not running');
    completeRun(store, 'c1', 'c', T + 9000);
    await store.recoverInFlight(() => 'lost');
    assert.deepEqual(
      await store.lastSlots(),
      new Map([
        ['a', T + 5000],
        ['b', T + 7000],
        ['c', T + 9000],
      ]),
    );
  });

  it('heartbeat keeps only the latest instant', async (t) => {
    const { store } = openStore(t);
    assert.equal(await store.lastHeartbeat(), null);
    store.heartbeat(T);
    assert.equal(await store.lastHeartbeat(), T);
    store.heartbeat(T + 30_000);
    assert.equal(await store.lastHeartbeat(), T + 30_000);
  });

  it('remembers the crontab its daemon runs, the latest one', async (t) => {
    const { store } = openStore(t);
    assert.equal(await store.crontab(), null);
    store.setCrontab('/etc/schedd/crontab');
    store.setCrontab('/home/me/.config/schedd/crontab');
    assert.equal(await store.crontab(), '/home/me/.config/schedd/crontab');
  });

  it('history is newest slot first (ties: last recorded first), for all jobs or one, up to the limit', async (t) => {
    const { store } = openStore(t);
    completeRun(store, 'a-early', 'a', T);
    completeRun(store, 'b-mid', 'b', T + 60_000);
    store.notRun('a', T + 120_000, 'skipped', 'why');
    completeRun(store, 'a-late', 'a', T + 120_000);
    completeRun(store, 'b-late', 'b', T + 180_000);
    const ids = (runs: RunRecord[]): string[] => runs.map((run) => (run.outcome === 'skipped' ? 'a-skipped' : run.runId));
    assert.deepEqual(ids(await store.history(undefined, 100)), ['b-late', 'a-late', 'a-skipped', 'b-mid', 'a-early']);
    assert.deepEqual(ids(await store.history(undefined, 2)), ['b-late', 'a-late']);
    assert.deepEqual(ids(await store.history('a', 100)), ['a-late', 'a-skipped', 'a-early']);
    assert.deepEqual(ids(await store.history('a', 1)), ['a-late']);
    assert.deepEqual(await store.history('nosuch', 10), []);
  });
});

describe('SqliteStore: output', () => {
  it('output is the latest run that has output, or the given run of that job', async (t) => {
    const { store } = openStore(t);
    completeRun(store, 'first', 'report', T, { output: output('first\n') });
    completeRun(store, 'second', 'report', T + 60_000, { outcome: 'failed', exitCode: 1, output: output('second\nline two\n') });
    store.notRun('report', T + 120_000, 'skipped', 'previous run still active (overlap=skip)');
    store.claim('third', 'report', T + 180_000);
    completeRun(store, 'elsewhere', 'other', T + 240_000, { output: output('other\n') });

    const latest = await store.output('report');
    assert.deepEqual(latest?.output, { head: 'second\nline two\n', tail: '', bytes: 16, truncated: false });
    assert.equal(latest?.run.runId, 'second');
    assert.deepEqual(await store.output('report', 'first'), {
      run: record({ runId: 'first', job: 'report', scheduledAt: iso(T), startedAt: iso(T + 5), finishedAt: iso(T + 105), outcome: 'ok', exitCode: 0, durationMs: 100, pid: 1000 }),
      output: { head: 'first\n', tail: '', bytes: 6, truncated: false },
    });
    // A run still in flight has no output yet.
    assert.deepEqual((await store.output('report', 'third'))?.output, { head: '', tail: '', bytes: 0, truncated: false });
    assert.equal(await store.output('report', 'nosuch'), null);
    assert.equal(await store.output('report', 'elsewhere'), null, "another job's run is not this job's");
    assert.equal(await store.output('nosuch'), null);
  });

  it('keeps at most 16 KiB of head and of tail, and says the output was truncated', async (t) => {
    const { store } = openStore(t);
    const head = 'h'.repeat(20_000);
    const tail = `${'t'.repeat(20_000)}END`;
    completeRun(store, 'big', 'chatty', T, { output: { head, tail, bytes: 1_000_000, truncated: true } });
    assert.deepEqual((await store.output('chatty'))?.output, { head: 'h'.repeat(KIB16), tail: `${'t'.repeat(KIB16 - 3)}END`, bytes: 1_000_000, truncated: true });

    // Regression: an output kept whole in the runner's head (16 to 32 KiB) lost its end; the tail
    // now comes from the end of that head, and nothing is lost, so it is not truncated.
    completeRun(store, 'mid', 'chatty', T + 1000, { output: { head: `${'x'.repeat(KIB16)}END`, tail: '', bytes: KIB16 + 3, truncated: false } });
    assert.deepEqual((await store.output('chatty', 'mid'))?.output, { head: 'x'.repeat(KIB16), tail: `${'x'.repeat(KIB16 - 3)}END`, bytes: KIB16 + 3, truncated: false });
    // Clipping that loses bytes sets truncated (the runner kept everything, the store did not).
    completeRun(store, 'lossy', 'chatty', T + 1500, { output: { head: `${'y'.repeat(40_000)}`, tail: 'z'.repeat(40_000), bytes: 80_000, truncated: false } });
    assert.deepEqual((await store.output('chatty', 'lossy'))?.output, { head: 'y'.repeat(KIB16), tail: 'z'.repeat(KIB16), bytes: 80_000, truncated: true });

    // Exactly 16 KiB each is kept whole.
    const exact = { head: 'a'.repeat(KIB16), tail: 'b'.repeat(KIB16), bytes: 2 * KIB16, truncated: false };
    completeRun(store, 'exact', 'chatty', T + 2000, { output: exact });
    assert.deepEqual((await store.output('chatty', 'exact'))?.output, exact);

    // Multi-byte text clipped on character boundaries stays intact: 4 bytes each, 16 KiB / 4 = 4096.
    const emoji = { head: '\u{1F600}'.repeat(5000), tail: '\u{1F680}'.repeat(5000), bytes: 40_000, truncated: false };
    completeRun(store, 'emoji', 'chatty', T + 3000, { output: emoji });
    assert.deepEqual((await store.output('chatty', 'emoji'))?.output, { head: '\u{1F600}'.repeat(4096), tail: '\u{1F680}'.repeat(4096), bytes: 40_000, truncated: true });
  });

  it('clips between UTF-8 characters: whole characters only, never over 16 KiB, and marked truncated', async (t) => {
    const { store } = openStore(t);
    // 3 + 4n bytes: 16384 falls inside the 4096th emoji, which is dropped whole.
    const fourByte = `aaa${'\u{1F600}'.repeat(5000)}`;
    // 16385 bytes but 16384 UTF-16 units: a clip judged by .length would not look truncated.
    const twoByte = `${'a'.repeat(KIB16 - 1)}é`;
    const twoByteTail = `é${'b'.repeat(KIB16 - 1)}`;
    completeRun(store, 'four', 'utf8', T, { output: { head: fourByte, tail: '', bytes: Buffer.byteLength(fourByte), truncated: false } });
    completeRun(store, 'two', 'utf8', T + 1000, { output: { head: twoByte, tail: twoByteTail, bytes: 2 * (KIB16 + 1), truncated: false } });
    assert.deepEqual((await store.output('utf8', 'four'))?.output, { head: `aaa${'\u{1F600}'.repeat(4095)}`, tail: '\u{1F600}'.repeat(4096), bytes: Buffer.byteLength(fourByte), truncated: false });
    assert.deepEqual((await store.output('utf8', 'two'))?.output, { head: 'a'.repeat(KIB16 - 1), tail: 'b'.repeat(KIB16 - 1), bytes: 2 * (KIB16 + 1), truncated: true });
  });
});

describe('SqliteStore: retention', () => {
  it('keepRuns 100: after 250 runs a job has the newest 110 (pruned every 20th write), never more than 119; other jobs untouched', async (t) => {
    const { store } = openStore(t, { keepRuns: 100 });
    let most = 0;
    for (let n = 0; n < 250; n++) {
      completeRun(store, `big-${n}`, 'big', T + n * 1000);
      if (n < 30) completeRun(store, `small-${n}`, 'small', T + n * 1000);
      most = Math.max(most, (await store.history('big', 1000)).length);
    }
    // Pruned after writes 20, 40, ..., 240 (down to 100 each time), then 10 more.
    const big = await store.history('big', 1000);
    assert.equal(big.length, 110);
    assert.deepEqual(slotsOf(big), Array.from({ length: 110 }, (_, i) => T + (249 - i) * 1000));
    assert.equal(most, 119, 'the most records a job had between prunes');
    assert.ok(most <= 100 + 20);
    assert.equal((await store.history('small', 1000)).length, 30);
  });

  it('counts skipped and missed records as writes, and never prunes a run still in flight', async (t) => {
    const { store } = openStore(t, { keepRuns: 5 });
    store.claim('old-running', 'j', T - 1_000_000);
    for (let n = 0; n < 19; n++) store.notRun('j', T + n * 1000, n % 2 === 0 ? 'skipped' : 'missed', 'r');
    assert.equal((await store.history('j', 100)).length, 20, 'nothing pruned before the 20th write');
    store.notRun('j', T + 19_000, 'missed', 'r');
    const kept = await store.history('j', 100);
    // The newest 5 by slot, plus the in-flight run (which is among none of them).
    assert.deepEqual(slotsOf(kept), [T + 19_000, T + 18_000, T + 17_000, T + 16_000, T + 15_000, T - 1_000_000]);
    assert.equal(kept.at(-1)!.runId, 'old-running');
  });

  it('keepDays drops records older than that many days at the next prune, in-flight runs excepted', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const { store } = openStore(t, { keepRuns: 100, keepDays: 2 });
    const old = NOW - 5 * 86_400_000;
    const recent = NOW - 86_400_000;
    store.claim('old-running', 'daily', old - 1000);
    for (let n = 0; n < 5; n++) completeRun(store, `other-${n}`, 'other', old + n * 1000);
    for (let n = 0; n < 10; n++) completeRun(store, `old-${n}`, 'daily', old + n * 1000);
    for (let n = 0; n < 9; n++) completeRun(store, `recent-${n}`, 'daily', recent + n * 1000);
    assert.equal((await store.history('daily', 100)).length, 20, 'nothing pruned before the 20th write');
    completeRun(store, 'recent-9', 'daily', recent + 9000);
    assert.deepEqual(
      (await store.history('daily', 100)).map((run) => run.runId),
      [...Array.from({ length: 10 }, (_, i) => `recent-${9 - i}`), 'old-running'],
    );
    assert.equal((await store.history('other', 100)).length, 5, 'another job is pruned on its own writes only');
  });
});

describe('SqliteStore: the file', () => {
  it('regression: a read-only open of a schema 1 file (schedd history before the daemon upgraded it) failed on the missing meta table', async (t) => {
    const path = join(tempDir(t), 'history.db');
    const v1 = new Database(path);
    v1.exec(readFileSync(join(fixturesDir, 'schema-v1.sql'), 'utf8'));
    v1.close();
    const store = new SqliteStore(path, { readonly: true });
    t.after(() => store.close());
    assert.deepEqual((await store.history('backup', 10)).map((run) => run.runId), ['v1run']);
    assert.equal(await store.crontab(), null);
  });

  it('opens a file written by schema version 1 and upgrades it to the current version', async (t) => {
    const path = join(tempDir(t), 'history.db');
    const v1 = new Database(path);
    v1.exec(readFileSync(join(fixturesDir, 'schema-v1.sql'), 'utf8'));
    assert.equal(v1.pragma('user_version', { simple: true }), 1);
    v1.close();

    const store = new SqliteStore(path);
    t.after(() => store.close());
    assertJson(await store.history('backup', 10), [
      record({ runId: 'v1run', job: 'backup', scheduledAt: '2025-06-15T15:06:40.000Z', startedAt: '2025-06-15T15:06:40.012Z', finishedAt: '2025-06-15T15:06:41.512Z', outcome: 'failed', exitCode: 2, durationMs: 1500, pid: 4242, attempt: 2 }),
    ]);
    assert.deepEqual((await store.output('backup'))?.output, { head: 'disk full\n', tail: '', bytes: 10, truncated: false });
    assert.equal(await store.lastHeartbeat(), 1750000030000);
    completeRun(store, 'new', 'backup', 1750000060000);
    assert.deepEqual((await store.history('backup', 10)).map((run) => run.runId), ['new', 'v1run']);
    assert.equal(await store.crontab(), null, 'a version 1 file knows no crontab');
    store.setCrontab('/etc/schedd/crontab');
    assert.equal(await store.crontab(), '/etc/schedd/crontab');
    store.close();

    const check = new Database(path, { readonly: true });
    t.after(() => check.close());
    assert.equal(check.pragma('user_version', { simple: true }), MIGRATIONS.length);
  });

  it('creates the schema in a new or empty file: user_version equals the number of migrations', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'empty.db'), '');
    for (const name of ['new.db', 'empty.db']) {
      const store = new SqliteStore(join(dir, name));
      completeRun(store, 'r', 'j', T);
      store.close();
      const check = new Database(join(dir, name), { readonly: true });
      assert.equal(check.pragma('user_version', { simple: true }), MIGRATIONS.length, name);
      assert.equal(check.pragma('journal_mode', { simple: true }), 'wal', name);
      check.close();
    }
  });

  it('refuses a file written by a newer schedd, and leaves it as it was', (t) => {
    const path = join(tempDir(t), 'history.db');
    const newer = new Database(path);
    newer.exec(`CREATE TABLE future (x); PRAGMA user_version = ${MIGRATIONS.length + 1}`);
    newer.close();
    assert.throws(() => new SqliteStore(path), {
      message: `the run history was written by a newer schedd (schema ${MIGRATIONS.length + 1}, this one knows ${MIGRATIONS.length})`,
    });
    const check = new Database(path, { readonly: true });
    t.after(() => check.close());
    assert.equal(check.pragma('user_version', { simple: true }), MIGRATIONS.length + 1);
    assert.deepEqual(check.prepare(`SELECT name FROM sqlite_master ORDER BY name`).all(), [{ name: 'future' }]);
  });

  it('a refused open does not leave the file open', (t) => {
    // The daemon's SafeStore retries a damaged history every 30 s: a handle left open by each
    // refused open would leak a descriptor per retry until V8 happened to collect it.
    const path = join(realpathSync(tempDir(t)), 'history.db');
    writeFileSync(path, 'not a database, '.repeat(512));
    for (let n = 0; n < 5; n++) assert.throws(() => new SqliteStore(path), { message: 'file is not a database' });
    const held = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
    assert.equal(held.length, 0, `${held.length} descriptors still open on ${path} after 5 refused opens`);
  });

  it('a read-only open of a missing file fails and creates nothing', (t) => {
    const dir = tempDir(t);
    assert.throws(() => new SqliteStore(join(dir, 'history.db'), { readonly: true }), { message: 'unable to open database file' });
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a read-only open reads what a writer committed and cannot write', async (t) => {
    const { store, path } = openStore(t);
    completeRun(store, 'r', 'j', T, { output: output('hi\n') });
    await nextTurn();
    const reader = new SqliteStore(path, { readonly: true });
    t.after(() => reader.close());
    assert.deepEqual(await reader.history('j', 10), await store.history('j', 10));
    assert.deepEqual((await reader.output('j'))?.output, output('hi\n'));
    assert.throws(() => reader.claim('x', 'j', T), { message: 'attempt to write a readonly database' });
  });

  it('a claim commits at once (with whatever is pending); other writes commit together at the end of the turn', async (t) => {
    const { store, path } = openStore(t);
    const reader = new Database(path, { readonly: true });
    t.after(() => reader.close());
    const committed = (): string[] => (reader.prepare('SELECT run_id, outcome, pid FROM runs ORDER BY scheduled_at').all() as { run_id: string; outcome: string; pid: number | null }[]).map((r) => `${r.outcome} ${r.pid}`);
    const heartbeat = (): unknown => reader.prepare(`SELECT at AS value FROM heartbeats`).get();
    store.notRun('j', T, 'skipped', 'previous run still active (overlap=skip)');
    store.heartbeat(T);
    assert.deepEqual(committed(), [], 'a skip is not committed within its turn');
    // The job's process starts right after its claim: the claim is committed by then.
    store.claim('a', 'j', T + 1000);
    assert.deepEqual(committed(), ['skipped null', 'running null']);
    assert.deepEqual(heartbeat(), { value: T });
    store.started('a', 42, T + 1005, 1);
    store.finished('a', finishedRun());
    assert.deepEqual(committed(), ['skipped null', 'running null']);
    await nextTurn();
    assert.deepEqual(committed(), ['skipped null', 'ok 42']);
  });
});

describe('SqliteStore: figures', () => {
  it('figures: claim+finished pairs per second, and the file size for 1,000,000 runs over 1,000 jobs (200,000 written, extrapolated)', async (t) => {
    // Printed, not asserted: they depend on the machine.
    const { store, path } = openStore(t);
    // As the daemon writes one run on its own: the claim commits at once, the finished record at
    // the end of a later turn: two commits per run.
    const pairs = 20_000;
    let startedMs = performance.now();
    for (let n = 0; n < pairs; n++) {
      const runId = `p${n}`;
      store.claim(runId, `job-${n % 100}`, T + n * 1000);
      await nextTurn();
      store.finished(runId, finishedRun({ startedAt: T + n * 1000, finishedAt: T + n * 1000 + 50, output: output(`run ${n} done\n`) }));
      await nextTurn();
    }
    const pairsMs = performance.now() - startedMs;
    // Many jobs due in the same turn: each claim still commits on its own; the finished records
    // of a turn share one commit.
    startedMs = performance.now();
    for (let from = pairs; from < 2 * pairs; from += 1000) {
      for (let n = from; n < from + 1000; n++) store.claim(`p${n}`, `job-${n % 100}`, T + n * 1000);
      await nextTurn();
      for (let n = from; n < from + 1000; n++) store.finished(`p${n}`, finishedRun({ output: output(`run ${n} done\n`) }));
      await nextTurn();
    }
    const batchedMs = performance.now() - startedMs;
    console.log(
      `figures: ${pairs} claim+finished pairs, each in its own turn (claim committed at once, finished at the end of its turn; WAL, synchronous=NORMAL): ${pairsMs.toFixed(0)} ms, ` +
        `${Math.round(pairs / (pairsMs / 1000))} pairs/s (${Math.round((pairsMs / pairs) * 1000)} µs per run); ` +
        `1,000 runs due in the same turn (1,000 claim commits, then one for the finished records): ${Math.round(pairs / (batchedMs / 1000))} pairs/s`,
    );
    store.close();
    rmSync(path, { force: true });

    // 1,000,000 runs over 1,000 jobs takes one to two minutes here now that every claim commits
    // on its own, so this writes 200,000 (200 per job) and extrapolates: with the default
    // retention each job keeps its newest 100 to 119 records whatever its total, so the file of
    // 1,000,000 runs holds as many records as this one. (Measured once at 1,000,000 when claims
    // were batched too: the same 100,000 records and 16.7 MiB.)
    const big = new SqliteStore(path);
    t.after(() => big.close());
    const runs = 200_000;
    const jobs = 1000;
    const batch = 10_000;
    const line = 'backup of /srv/data finished: 1234 files\n';
    // Claims commit one by one; the finished records of a turn commit together.
    const bigStartedMs = performance.now();
    for (let from = 0; from < runs; from += batch) {
      for (let n = from; n < from + batch; n++) {
        const runId = `r${n}`;
        const at = T + Math.floor(n / jobs) * 60_000;
        big.claim(runId, `job-${n % jobs}`, at);
        big.finished(runId, finishedRun({ startedAt: at + 3, finishedAt: at + 1503, durationMs: 1500, output: output(line) }));
      }
      await nextTurn();
    }
    const bigMs = performance.now() - bigStartedMs;
    big.close();
    const check = new Database(path, { readonly: true });
    const rows = (check.prepare('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n;
    const freePages = check.pragma('freelist_count', { simple: true }) as number;
    const pageSize = check.pragma('page_size', { simple: true }) as number;
    check.close();
    const walBytes = existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0;
    const bytes = statSync(path).size;
    console.log(
      `figures: ${runs} runs (1,000,000 extrapolated: the same records kept) over ${jobs} jobs (keepRuns ${DEFAULT_KEEP_RUNS}, a ${Buffer.byteLength(line)}-byte output each, ${batch} runs per turn): ` +
        `${(bigMs / 1000).toFixed(1)} s (${Math.round(runs / (bigMs / 1000))} runs/s); ${rows} records kept; ` +
        `file ${(bytes / 1048576).toFixed(1)} MiB after close (${Math.round(bytes / rows)} bytes per kept record; ${freePages} free pages of ${pageSize} bytes; WAL ${walBytes} bytes)`,
    );
    // Retention holds: between keepRuns and keepRuns + 19 per job.
    assert.ok(rows >= jobs * DEFAULT_KEEP_RUNS && rows < jobs * (DEFAULT_KEEP_RUNS + 20), `${rows} records kept`);
  });
});

describe('SqliteStore: retries', () => {
  it('regression: a run retrying was recorded failed, so a crash during the retry did not mark it lost', async (t) => {
    const { store } = openStore(t);
    store.claim('r1', 'flaky', T);
    store.started('r1', 100, T + 5, 1);
    store.finished('r1', { outcome: 'failed', exitCode: 1, signal: null, startedAt: T + 5, finishedAt: T + 50, durationMs: 45, attempt: 1, output: { head: '', tail: '', bytes: 0, truncated: false } });
    store.commit();
    // Waiting to retry: the last attempt's outcome stands, and a cancel does not overwrite it.
    store.cancelled('r1', 'schedd is stopping');
    store.commit();
    assert.equal((await store.history('flaky', 1))[0]!.outcome, 'failed');
    // The retry runs: in flight again, so a crash now makes it lost.
    store.started('r1', 101, T + 1050, 2);
    store.commit();
    assert.deepEqual(
      (await store.recoverInFlight(() => 'schedd died')).map((run) => [run.runId, run.attempt, run.pid, run.finishedAt]),
      [['r1', 2, 101, null]],
    );
    assert.equal((await store.history('flaky', 1))[0]!.outcome, 'lost');
  });
});

/** A second store (another node) on the same file, closed after the test. */
function openNode(t: TestContext, path: string, node: string, options: StoreOptions = {}): SqliteStore {
  const store = new SqliteStore(path, { ...options, node });
  t.after(() => store.close());
  return store;
}

/** The node column of every run, by run id, read from the file. */
function nodesOf(path: string): Record<string, string | null> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT run_id, node FROM runs ORDER BY rowid').all() as { run_id: string; node: string | null }[];
    return Object.fromEntries(rows.map((row) => [row.run_id, row.node]));
  } finally {
    db.close();
  }
}

/** The rows that hold their slot (the claims), read from the file. */
function claimsOf(path: string, job: string): { slot: number; run_id: string; node: string | null }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT scheduled_at AS slot, run_id, node FROM runs WHERE job = ? AND claimed = 1 ORDER BY scheduled_at').all(job) as { slot: number; run_id: string; node: string | null }[];
  } finally {
    db.close();
  }
}

/**
 * A history as schema 2 left it (the migrations of that version, rows as its writer made them):
 * a failed run, a second run of its slot (a doubled claim, which that schema did not prevent),
 * a run in flight, a skipped slot, a retried run's failed attempt and its final row, and the
 * one global heartbeat.
 */
function schema2File(path: string): void {
  const db = new Database(path);
  for (const [v, migration] of MIGRATIONS.slice(0, 2).entries()) {
    db.exec(migration);
    db.pragma(`user_version = ${v + 1}`);
  }
  const run = db.prepare(
    `INSERT INTO runs (run_id, job, scheduled_at, started_at, finished_at, outcome, exit_code, duration_ms, reason, pid, attempt, output_head, output_tail, output_bytes, output_truncated)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  run.run('v2fail', 'backup', T, T + 5, T + 105, 'failed', 2, 100, null, 4242, 1, 'disk full\n', '', 10, 0);
  run.run('v2dup', 'backup', T, T + 7, T + 107, 'ok', 0, 100, null, 4244, 1, '', '', 0, 0);
  run.run('v2run', 'backup', T + 60_000, T + 60_005, null, 'running', null, null, null, 4343, 1, null, null, null, null);
  run.run('s2skip', 'backup', T + 120_000, null, null, 'skipped', null, null, 'previous run still active (overlap=skip)', null, 1, null, null, null, null);
  run.run('v2retry.1', 'flaky', T, T + 5, T + 50, 'failed', 1, 45, 'retrying in 1 s', 99, 1, '', '', 0, 0);
  run.run('v2retry', 'flaky', T, T + 1050, T + 1100, 'ok', 0, 50, null, 100, 2, '', '', 0, 0);
  db.prepare(`INSERT INTO daemon (key, value) VALUES ('heartbeat', ?)`).run(T + 90_000);
  db.prepare(`INSERT INTO meta (key, value) VALUES ('crontab', '/etc/schedd/crontab')`).run();
  db.close();
}

describe('SqliteStore: claims and nodes', () => {
  it('claim: the first claim of a slot wins; a later claim of it (another run id) loses and records nothing', async (t) => {
    const { store, path } = openStore(t, { node: 'n1' });
    assert.equal(await store.claim('r1', 'backup', T), 'won');
    assert.equal(await store.claim('r2', 'backup', T), 'lost');
    assert.equal(await store.claim('r3', 'backup', T + 1000), 'won', 'another slot of the job');
    assert.equal(await store.claim('r4', 'other', T), 'won', 'the same slot of another job');
    assert.deepEqual((await store.history(undefined, 10)).map((run) => run.runId).sort(), ['r1', 'r3', 'r4']);
    assert.deepEqual(claimsOf(path, 'backup'), [
      { slot: T, run_id: 'r1', node: 'n1' },
      { slot: T + 1000, run_id: 'r3', node: 'n1' },
    ]);
  });

  it('claim: two stores on one file (two nodes) claiming the same slot: one wins, the other loses', async (t) => {
    const { store: a, path } = openStore(t, { node: 'node-a' });
    const b = openNode(t, path, 'node-b');
    const results: ClaimResult[] = [await a.claim('ra', 'backup', T), await b.claim('rb', 'backup', T)];
    assert.deepEqual(results, ['won', 'lost']);
    // And the other way round: whichever claims first wins.
    assert.deepEqual([await b.claim('rb2', 'backup', T + 1000), await a.claim('ra2', 'backup', T + 1000)], ['won', 'lost']);
    assert.deepEqual(nodesOf(path), { ra: 'node-a', rb2: 'node-b' });
    assertJson(await b.history('backup', 10), await a.history('backup', 10));
  });

  it('claim: a run id claimed twice loses and takes no slot', async (t) => {
    const { store } = openStore(t);
    assert.equal(await store.claim('r1', 'backup', T), 'won');
    assert.equal(await store.claim('r1', 'other', T + 1000), 'lost');
    assert.equal(await store.claim('r2', 'other', T + 1000), 'won', 'the slot of the refused claim is still free');
  });

  it('claim: skipped and missed records and retried attempts share a slot with a run without taking it', async (t) => {
    const { store } = openStore(t);
    await store.notRun('j', T, 'skipped', 'previous run still active (overlap=skip)');
    await store.notRun('j', T + 1000, 'missed', 'schedd was not running');
    assert.equal(await store.claim('r1', 'j', T), 'won');
    assert.equal(await store.claim('r2', 'j', T + 1000), 'won');
    await store.started('r1', 10, T + 5, 1);
    await store.finished('r1', finishedRun({ outcome: 'failed', exitCode: 1 }));
    await store.retrying('r1', 'r1.1', 'retrying in 1 s');
    assert.equal(await store.claim('r3', 'j', T), 'lost', 'the retry holds the slot');
  });

  it('claim: a claim that cannot be written throws at the call and takes no slot', async (t) => {
    const { store, path } = openStore(t);
    // Another connection holds the write lock for longer than busy_timeout (1 s).
    const holder = new Database(path);
    t.after(() => holder.close());
    holder.exec('BEGIN IMMEDIATE');
    assert.throws(() => store.claim('r1', 'j', T), { message: 'database is locked' });
    holder.exec('ROLLBACK');
    assert.equal(await store.claim('r2', 'j', T), 'won');
    assert.deepEqual((await store.history('j', 10)).map((run) => run.runId), ['r2']);
  });

  it('node: every row written carries the store\'s node; the default is the host name', async (t) => {
    const { store, path } = openStore(t, { node: 'n1' });
    assert.equal(store.node, 'n1');
    await store.claim('r1', 'j', T);
    await store.started('r1', 10, T + 5, 1);
    await store.finished('r1', finishedRun({ outcome: 'failed', exitCode: 1 }));
    await store.retrying('r1', 'r1.1', 'retrying in 1 s');
    await store.notRun('j', T + 1000, 'skipped', 'previous run still active (overlap=skip)');
    await store.close();
    const byDefault = new SqliteStore(path);
    assert.equal(byDefault.node, hostname());
    await byDefault.claim('r2', 'j', T + 2000);
    await byDefault.close();
    const nodes = nodesOf(path);
    const skipped = Object.keys(nodes).find((id) => id.startsWith('s'))!;
    assert.deepEqual(nodes, { 'r1.1': 'n1', r1: 'n1', [skipped]: 'n1', r2: hostname() });
  });

  it('recoverInFlight: the single-file store takes the runs every node left in flight, and those from before nodes were recorded', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const path = join(tempDir(t), 'history.db');
    schema2File(path);
    const a = openNode(t, path, 'node-a');
    await a.claim('ra', 'j', T);
    await a.close();
    // The same daemon started again under another hostname (a container), or another node.
    const b = openNode(t, path, 'node-b');
    await b.claim('rb', 'j', T + 1000);
    const taken = await b.recoverInFlight(() => 'schedd died');
    assert.deepEqual(taken.map((run) => run.runId).sort(), ['ra', 'rb', 'v2run']);
    assert.deepEqual((await b.history(undefined, 10)).filter((run) => run.outcome === 'running'), []);
  });

  it('migration: a schema 2 file is upgraded in place; its rows are kept (node null), its slots claimed (a doubled one by its first run), its heartbeat and crontab read', async (t) => {
    const path = join(tempDir(t), 'history.db');
    schema2File(path);
    const reader = new SqliteStore(path, { readonly: true });
    const before = await reader.history(undefined, 10);
    // A read-only open (the CLI before the daemon upgraded the file) reads it as it is.
    assert.equal(await reader.lastHeartbeat(), T + 90_000);
    assert.equal(await reader.crontab(), '/etc/schedd/crontab');
    assert.throws(() => reader.claim('x', 'j', T), { message: 'attempt to write a readonly database' });
    await reader.close();
    assert.equal(before.length, 6);

    const store = openNode(t, path, 'n1');
    assertJson(await store.history(undefined, 10), before);
    assert.deepEqual(nodesOf(path), { v2fail: null, v2dup: null, v2run: null, s2skip: null, 'v2retry.1': null, v2retry: null });
    assert.deepEqual(claimsOf(path, 'backup'), [
      { slot: T, run_id: 'v2fail', node: null },
      { slot: T + 60_000, run_id: 'v2run', node: null },
    ]);
    assert.deepEqual(claimsOf(path, 'flaky'), [{ slot: T, run_id: 'v2retry', node: null }]);
    assert.equal(await store.claim('again', 'backup', T + 60_000), 'lost', 'a slot recorded before the upgrade is not run again');
    assert.equal(await store.claim('free', 'backup', T + 120_000), 'won', 'a skipped slot was never claimed');
    assert.equal(await store.lastHeartbeat(), T + 90_000);
    assert.equal(await store.crontab(), '/etc/schedd/crontab');
    await store.close();
    const check = new Database(path, { readonly: true });
    t.after(() => check.close());
    assert.equal(check.pragma('user_version', { simple: true }), MIGRATIONS.length);
  });

  it('heartbeat: one per node; the last heartbeat is the latest of any node, the old global one included until a later one tidies it', async (t) => {
    const path = join(tempDir(t), 'history.db');
    schema2File(path);
    const rows = (): unknown => {
      const db = new Database(path, { readonly: true });
      try {
        return { nodes: db.prepare('SELECT node, at FROM heartbeats ORDER BY node').all(), old: db.prepare(`SELECT value FROM daemon WHERE key = 'heartbeat'`).get() ?? null };
      } finally {
        db.close();
      }
    };
    const a = openNode(t, path, 'node-a');
    assert.equal(await a.lastHeartbeat(), T + 90_000, 'the heartbeat of schema 2');
    await a.heartbeat(T + 100_000);
    assert.equal(await a.lastHeartbeat(), T + 100_000);
    await a.heartbeat(T + 130_000);
    await a.close();
    assert.deepEqual(rows(), { nodes: [{ node: 'node-a', at: T + 130_000 }], old: null });

    // Another node id whose first heartbeat is earlier (a clock behind): both kept, the latest counts.
    const b = openNode(t, path, 'node-b');
    assert.equal(await b.lastHeartbeat(), T + 130_000);
    await b.heartbeat(T + 120_000);
    assert.equal(await b.lastHeartbeat(), T + 130_000);
    await b.heartbeat(T + 150_000);
    assert.equal(await b.lastHeartbeat(), T + 150_000);
    await b.close();
    assert.deepEqual(rows(), { nodes: [{ node: 'node-a', at: T + 130_000 }, { node: 'node-b', at: T + 150_000 }], old: null });

    // The next start (a new hostname) tidies what its first heartbeat outdates.
    const c = openNode(t, path, 'node-c');
    await c.heartbeat(T + 140_000);
    await c.close();
    assert.deepEqual(rows(), { nodes: [{ node: 'node-b', at: T + 150_000 }, { node: 'node-c', at: T + 140_000 }], old: null });
  });

  it('claims are pruned with the runs (they are the runs\' rows): by keepRuns and by keepDays', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const { store, path } = openStore(t, { keepRuns: 5, keepDays: 2 });
    for (let n = 0; n < 30; n++) completeRun(store, `r${n}`, 'j', NOW - 86_400_000 + n * 1000);
    const kept = slotsOf(await store.history('j', 100)).reverse();
    assert.equal(kept.length, 15);
    assert.deepEqual(claimsOf(path, 'j').map((claim) => claim.slot), kept);
    for (let n = 0; n < 20; n++) completeRun(store, `old${n}`, 'old', NOW - 5 * 86_400_000 + n * 1000);
    assert.deepEqual(await store.history('old', 100), []);
    assert.deepEqual(claimsOf(path, 'old'), []);
  });
});
