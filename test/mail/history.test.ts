// A run's mail in the history (schema 5): recorded on the run's row, read back with it, and a
// history file from before it (schema 4) read as it is, then upgraded in place.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/schema.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { FinishedRun } from '../../src/store/types.js';

const T = Date.UTC(2025, 5, 15, 2, 0, 0);

function path(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-mail-history-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'history.db');
}

const run = (outcome: FinishedRun['outcome'], attempt = 1): FinishedRun => ({
  outcome,
  exitCode: outcome === 'ok' ? 0 : 1,
  signal: null,
  startedAt: T + 5,
  finishedAt: T + 105,
  durationMs: 100,
  attempt,
  output: { head: 'out\n', tail: '', bytes: 4, truncated: false },
});

describe('mail: the record of each delivery with its run', () => {
  it('is on the run\'s row, read back with it; a run without mail has none', async (t) => {
    const store = new SqliteStore(path(t));
    t.after(() => store.close());
    for (const id of ['r1', 'r2', 'r3']) {
      store.claim(id, 'j', T + Number(id.slice(1)) * 1000);
      await store.started(id, 10, T, 1);
      await store.finished(id, run('ok'));
    }
    await store.mailed('r1', { status: 'sent', detail: 'to alice,bob' });
    await store.mailed('r2', { status: 'failed', detail: '/usr/sbin/sendmail exited 75 (to alice)' });
    store.commit();
    const rows = await store.history('j', 10);
    assert.deepEqual(
      rows.map((r) => [r.runId, r.mail]),
      [
        ['r3', undefined],
        ['r2', { status: 'failed', detail: '/usr/sbin/sendmail exited 75 (to alice)' }],
        ['r1', { status: 'sent', detail: 'to alice,bob' }],
      ],
    );
    assert.equal('mail' in rows[0]!, false, 'a record without mail reads as it did before schema 5');
    assert.deepEqual((await store.output('j', 'r2'))?.run.mail, { status: 'failed', detail: '/usr/sbin/sendmail exited 75 (to alice)' });
  });

  it("a retried run's mail is on its final row, not on its failed attempt's (RUN.1)", async (t) => {
    const store = new SqliteStore(path(t));
    t.after(() => store.close());
    store.claim('r1', 'j', T);
    await store.started('r1', 10, T, 1);
    await store.finished('r1', run('failed'));
    await store.retrying('r1', 'r1.1', 'attempt 1/2 failed (exit 1); retried after 1s');
    await store.started('r1', 11, T + 1000, 2);
    await store.finished('r1', run('failed', 2));
    await store.mailed('r1', { status: 'sent', detail: 'to alice' });
    store.commit();
    assert.deepEqual(
      (await store.history('j', 10)).map((r) => [r.runId, r.mail?.status]),
      [
        ['r1', 'sent'],
        ['r1.1', undefined],
      ],
    );
  });

  it('a schema 4 file is read as it is (no mail), then upgraded in place: its rows kept, mail recorded from then on', async (t) => {
    const file = path(t);
    const db = new Database(file);
    for (const [v, migration] of MIGRATIONS.slice(0, 4).entries()) {
      db.exec(migration);
      db.pragma(`user_version = ${v + 1}`);
    }
    db.prepare(`INSERT INTO runs (run_id, job, scheduled_at, started_at, finished_at, outcome, exit_code, attempt, output_head, output_tail, output_bytes, output_truncated, claimed) VALUES ('v4', 'j', ?, ?, ?, 'ok', 0, 1, 'x', '', 1, 0, 1)`).run(T, T, T + 10);
    db.close();
    const reader = new SqliteStore(file, { readonly: true });
    const before = await reader.history('j', 10);
    await reader.close();
    assert.deepEqual(before.map((r) => [r.runId, r.outcome, 'mail' in r]), [['v4', 'ok', false]]);

    const store = new SqliteStore(file);
    t.after(() => store.close());
    assert.deepEqual(await store.history('j', 10), before);
    await store.mailed('v4', { status: 'discarded', detail: 'no mailer at /usr/sbin/sendmail (to root)' });
    store.commit();
    assert.deepEqual((await store.history('j', 10))[0]?.mail, { status: 'discarded', detail: 'no mailer at /usr/sbin/sendmail (to root)' });
    const check = new Database(file, { readonly: true });
    t.after(() => check.close());
    assert.equal(check.pragma('user_version', { simple: true }), 5);
    assert.equal(MIGRATIONS.length, 5);
  });
});
