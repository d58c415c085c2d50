// Scenario cron tables (issue 15): a root daemon with --cron runs every-second jobs from
// /etc/crontab, four cron.d files and three users' spool tables, while for 60 s the scenario adds,
// rewrites (by rename and in place, valid and invalid), makes insecure (chmod g+w / o+w, chown to
// a user, a hard link, a user's symlink; a spool table chmod 644, chowned to another user, a
// symlink), makes secure again and removes tables, and deletes and re-creates users whose spool
// tables exist. Each job writes its table's version to a ledger (cron-tables-world.ts). Then:
// every run is of a version its table ran at that moment (allowing REFUSE_MS for a change to be
// seen), every slot of a table that ran steadily fired, no slot twice, no run lost. Seeded:
// SCHEDD_FAULT_SEED=N replays the plan.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, test } from 'node:test';
import { killAllDaemons, workspace } from '../helpers/daemon.js';
import { ensureUser, needsRoot } from '../helpers/users.js';
import { waitUntil } from '../helpers/wait.js';
import { doubledClaims, faultSeed, readHistory, seededRandom } from './crash-helpers.js';
import { CronWorld, SPOOL_INSECURITIES, SYSTEM_INSECURITIES, type Table } from './cron-tables-world.js';
import { reportFigures } from './ledger.js';

after(killAllDaemons);

const STORM_MS = 60_000;
/** A run whose slot is this long after its table stopped running that version is a violation. */
const REFUSE_MS = 300;
/** A table's every slot from this long after it became runnable must fire. */
const LIVE_MS = 300;
const USERS = ['sdtcta', 'sdtctb', 'sdtctc'];

interface Run {
  job: string;
  table: string;
  slotMs: number;
  run: string;
  version: number;
  atMs: number;
}

function readRuns(ledger: string): Run[] {
  if (!existsSync(ledger)) return [];
  return readFileSync(ledger, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [kind, job, slot, run, version, atMs] = line.split(' ');
      if (kind !== 'start' || atMs === undefined) throw new Error(`malformed ledger line: ${JSON.stringify(line)}`);
      return { job: job!, table: job!.slice(0, job!.lastIndexOf(':')), slotMs: Date.parse(slot!), run: run!, version: Number(version), atMs: Number(atMs) };
    });
}

/** The version the table ran at `ms` by the scenario's own account (null: nothing). */
function versionAt(table: Table, ms: number): number | null {
  let version: number | null = null;
  for (const span of table.spans) if (span.fromMs <= ms) version = span.version;
  return version;
}

test('cron tables: tables added, rewritten, made insecure and secure, removed, users deleted and re-created while jobs fire', { skip: needsRoot, timeout: 240_000 }, async (t) => {
  const seed = faultSeed();
  t.diagnostic(`seed ${seed} (SCHEDD_FAULT_SEED=${seed} replays this plan)`);
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const ws = workspace(t);
  // The users' jobs append to the ledger too.
  chmodSync(ws.dir, 0o755);
  const ledger = ws.write('ledger', '');
  chmodSync(ledger, 0o666);
  const users = USERS.map((name) => ensureUser(name));
  t.after(() => {
    for (const user of users) {
      try {
        execFileSync('userdel', [user.name], { stdio: 'ignore' });
      } catch {
        // Gone already.
      }
    }
  });
  const world = new CronWorld(ws.path('root'), ledger, users);
  const crontab = world.create('crontab', 'system', join(world.etc, 'crontab'));
  const changing: Table[] = [
    ...['alpha', 'beta', 'gamma', 'delta'].map((name) => world.create(`cron.d/${name}`, 'system', join(world.cronD, name))),
    ...users.map((user) => world.create(`user/${user.name}`, 'spool', join(world.spool, user.name), user)),
  ];
  // A file of cron.d that is no table, and stays none.
  writeFileSync(join(world.cronD, 'php.dpkg-old'), world.text('system', 0, true), { mode: 0o644 });
  ws.write('crontab', '# the cron tables only\n');
  const daemon = ws.start({ args: ['--cron', '--cron-root', world.root, '--keep-runs', '1000000'] });
  await daemon.waitFor({ msg: 'schedd started' });
  await waitUntil('every table to fire', () => {
    const fired = new Set(readRuns(ledger).map((run) => run.table));
    return [crontab, ...changing].every((table) => fired.has(table.id));
  });

  const counts: Record<string, number> = {};
  const count = (what: string): void => void (counts[what] = (counts[what] ?? 0) + 1);
  const changes: { table: Table; what: string; atMs: number; runs: boolean }[] = [];
  const stormStart = Date.now();
  while (Date.now() - stormStart < STORM_MS) {
    // Each table keeps a state for 1.5 to 5 s: long enough to be seen, and to be checked.
    const ready = changing.filter((table) => Date.now() - table.lastChangeMs > 1500 + random() * 3500);
    if (ready.length > 0) {
      const table = pick(ready);
      let what: string;
      if (table.state === 'insecure') world.makeSecure(table), (what = 'made secure');
      else if (table.state === 'removed') world.add(table), (what = 'added');
      else if (table.state === 'user-deleted') world.recreateUser(table), (what = 'user re-created');
      else {
        const roll = random();
        if (roll < 0.2) world.rewrite(table, 'rename', true), (what = 'rewritten by rename');
        else if (roll < 0.35) world.rewrite(table, 'in-place', true), (what = 'rewritten in place');
        else if (roll < 0.45) world.rewrite(table, random() < 0.5 ? 'rename' : 'in-place', false), (what = 'rewritten invalid');
        else if (roll < 0.8) {
          const how = pick(table.kind === 'system' ? SYSTEM_INSECURITIES : SPOOL_INSECURITIES);
          world.makeInsecure(table, how);
          what = `insecure: ${how}`;
        } else if (roll < 0.9 || table.kind === 'system') world.remove(table), (what = 'removed');
        else world.deleteUser(table), (what = 'user deleted');
      }
      count(what);
      changes.push({ table, what, atMs: table.lastChangeMs, runs: table.applied !== null });
    }
    // Pacing only: the storm waits on nothing.
    await delay(100 + random() * 300);
  }
  const stormEnd = Date.now();
  // Slots until now are settled once the next ones have fired.
  await waitUntil('the slots after the storm to fire', () => readRuns(ledger).some((run) => run.table === crontab.id && run.slotMs > stormEnd + 2000), 15_000);
  const checkedUntil = stormEnd;
  assert.equal(await daemon.stop(), 0, daemon.stderr);

  const runs = readRuns(ledger);
  const history = await readHistory(ws.dir, ws.path('state'));
  const problems: string[] = [];
  const byTable = new Map([crontab, ...changing].map((table) => [table.id, table]));

  // 0 doubled: no (job, slot) twice in the ledger nor in the history.
  const seen = new Set<string>();
  for (const run of runs) {
    const key = `${run.job} ${run.slotMs}`;
    if (seen.has(key)) problems.push(`slot ${run.job} ${new Date(run.slotMs).toISOString()} ran twice`);
    seen.add(key);
  }
  problems.push(...doubledClaims(history));

  // No insecure, removed, invalid or superseded text ever runs: a run's version is the one its
  // table ran at its slot, or up to REFUSE_MS before (the change not seen yet).
  let violations = 0;
  for (const run of runs) {
    const table = byTable.get(run.table);
    if (table === undefined) {
      problems.push(`run ${run.run} of ${run.job}: no such table`);
      continue;
    }
    if (versionAt(table, run.slotMs) === run.version || versionAt(table, run.slotMs - REFUSE_MS) === run.version) continue;
    violations++;
    const span = [...table.spans].reverse().find((s) => s.fromMs <= run.slotMs);
    const change = [...changes].reverse().find((c) => c.table === table && c.atMs <= run.slotMs);
    problems.push(`${run.job} ran version ${run.version} at ${new Date(run.slotMs).toISOString()}, ${run.slotMs - (span?.fromMs ?? 0)} ms after the table ran ${span?.version ?? 'nothing'} (${change?.what ?? 'from the start'})`);
  }

  // Every secure valid table runs, and 0 lost: every slot of a span in which a table ran (from
  // LIVE_MS after it began to REFUSE_MS before it ended) fired.
  let slotsChecked = 0;
  const windowsChecked = { total: 0, atLeast3s: 0 };
  for (const table of [crontab, ...changing]) {
    const spans = table.spans.map((span, i) => ({ ...span, toMs: table.spans[i + 1]?.fromMs ?? checkedUntil }));
    // Consecutive versions are one window: a rewrite does not stop a table.
    const windows: { fromMs: number; toMs: number }[] = [];
    for (const span of spans) {
      if (span.version === null) continue;
      const last = windows.at(-1);
      if (last !== undefined && last.toMs === span.fromMs) last.toMs = span.toMs;
      else windows.push({ fromMs: span.fromMs, toMs: span.toMs });
    }
    const slots = new Set(runs.filter((run) => run.table === table.id).map((run) => run.slotMs));
    for (const window of windows) {
      windowsChecked.total++;
      if (window.toMs - window.fromMs >= 3000) windowsChecked.atLeast3s++;
      for (let slot = Math.ceil((window.fromMs + LIVE_MS) / 1000) * 1000; slot <= window.toMs - REFUSE_MS; slot += 1000) {
        slotsChecked++;
        if (!slots.has(slot)) problems.push(`${table.id} did not fire its slot ${new Date(slot).toISOString()} (running since ${new Date(window.fromMs).toISOString()})`);
      }
    }
  }

  // The history agrees: every run is recorded as the same job and slot, nothing lost.
  const recorded = new Map(history.map((record) => [record.runId, record]));
  for (const run of runs) {
    const record = recorded.get(run.run);
    if (record === undefined || record.job !== run.job || Date.parse(record.scheduledAt) !== run.slotMs) problems.push(`run ${run.run} (${run.job}) not in the history as such: ${JSON.stringify(record)}`);
  }
  const lost = history.filter((record) => record.outcome === 'lost');
  for (const record of lost) problems.push(`run ${record.runId} (${record.job}) recorded lost`);

  // From a change to the daemon acting on it: the first log record that reflects it.
  let maxChangeToEffectMs = 0;
  let slowest = '';
  let unseen = 0;
  for (const change of changes) {
    const job = `${change.table.id}:tick`;
    const effect = daemon.records.find((record) => {
      if (Date.parse(record.time) < change.atMs) return false;
      if (change.what.startsWith('insecure') || change.what === 'user deleted') return record.reason === 'refused' && record.crontab === change.table.path;
      // A user re-created whose table was left invalid: its errors, and nothing runs.
      if (change.what === 'rewritten invalid' || (change.what === 'user re-created' && !change.runs)) return record.crontab === change.table.path && record.msg.startsWith('reload rejected');
      if (change.what === 'removed') return record.msg === 'crontab reloaded' && record.removed?.includes(job) === true;
      return record.msg === 'crontab reloaded' && (record.added?.includes(job) === true || record.changed?.includes(job) === true);
    });
    if (effect === undefined) unseen++;
    else if (Date.parse(effect.time) - change.atMs > maxChangeToEffectMs) {
      maxChangeToEffectMs = Date.parse(effect.time) - change.atMs;
      slowest = `${change.table.id} ${change.what}`;
    }
  }
  t.diagnostic(`slowest change to be acted on: ${slowest}, ${maxChangeToEffectMs} ms`);
  if (unseen > 0) problems.push(`${unseen} change(s) never seen in the log`);
  assert.deepEqual(problems, [], `seed ${seed}`);

  const figures = {
    seed,
    stormSeconds: Math.round((stormEnd - stormStart) / 1000),
    tables: 1 + changing.length,
    changes: changes.length,
    ...Object.fromEntries(Object.entries(counts).map(([what, n]) => [what.replace(/[^a-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase()), n])),
    runs: runs.length,
    slotsChecked,
    windowsChecked: windowsChecked.total,
    windowsOf3sOrMore: windowsChecked.atLeast3s,
    insecureRuns: violations,
    doubled: 0,
    lost: lost.length,
    maxChangeToEffectMs,
  };
  t.diagnostic(reportFigures('cron-tables', figures));
});
