// Scenario 2, reload storm: for 35 s, rewrite the crontab (in place and by rename) and send
// SIGHUP, several hundred times, valid and invalid files mixed, while two long jobs run and
// per-second jobs keep their ids across the rewrites. Then: the daemon lives, its schedule is
// the last valid file, no slot started twice, no run was disturbed, and an always-present job
// fired every second throughout. Seeded: SCHEDD_FAULT_SEED=N replays the storm.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { killAllDaemons, RUN_END_MESSAGES, workspace } from '../helpers/daemon.js';
import { doubledClaims, faultSeed, readHistory, seededRandom } from './crash-helpers.js';
import { doubledSlots, readLedger, reportFigures, type LedgerEvent } from './ledger.js';
import { invalidate, LONG_S, makeVersion, type Version } from './reload-storm-crontabs.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

const STORM_MS = 35_000;
const DAEMON_ARGS = ['--keep-runs', '1000000', '--stop-grace', '1s', '--kill-grace', '1s'];

const starts = (events: readonly LedgerEvent[], job?: string): LedgerEvent[] => events.filter((e) => e.kind === 'start' && (job === undefined || e.job === job));

test('reload storm: hundreds of rewrites and SIGHUPs in 35 s, valid and invalid mixed', { timeout: 180_000 }, async (t) => {
  const seed = faultSeed();
  t.diagnostic(`seed ${seed} (SCHEDD_FAULT_SEED=${seed} replays this storm)`);
  const random = seededRandom(seed);
  const ws = workspace(t);
  const ledger = ws.path('ledger');
  let n = 0;
  let lastValid: Version = makeVersion(n, ledger, random);
  ws.write('crontab', lastValid.text);
  const daemon = ws.start({ args: DAEMON_ARGS });
  await daemon.waitFor({ msg: 'schedd started' });
  // Both long jobs run before the storm begins.
  await waitUntil('both long jobs to start', () => starts(readLedger(ledger)).filter((e) => e.job.startsWith('long-')).length >= 2);
  const longBoot = starts(readLedger(ledger), 'long-boot')[0]!;
  const longTick = starts(readLedger(ledger), 'long-tick')[0]!;

  const counts = { rewrites: 0, inPlace: 0, byRename: 0, valid: 0, invalid: 0, sighups: 0 };
  const stormStart = Date.now();
  while (Date.now() - stormStart < STORM_MS) {
    const version = makeVersion(++n, ledger, random);
    const valid = random() < 0.6;
    const text = valid ? version.text : invalidate(version.text, random);
    if (random() < 0.5) {
      ws.write('crontab', text);
      counts.inPlace++;
    } else {
      ws.replace('crontab', text);
      counts.byRename++;
    }
    counts.rewrites++;
    if (valid) {
      lastValid = version;
      counts.valid++;
    } else {
      counts.invalid++;
    }
    if (random() < 0.6) {
      // Now and then a burst, as from several tools at once.
      const burst = random() < 0.2 ? 3 : 1;
      for (let i = 0; i < burst; i++) daemon.signal('SIGHUP');
      counts.sighups += burst;
    }
    // Pacing only: the storm waits on nothing.
    await delay(random() * 100);
  }
  const stormEnd = Date.now();

  // The end of the storm: one last valid file (applied), then invalid ones that must be refused.
  lastValid = makeVersion(++n, ledger, random);
  ws.replace('crontab', lastValid.text);
  const applied = await runCli(['reload', '--state-dir', 'state'], { cwd: ws.dir });
  assert.equal(applied.code, 0, JSON.stringify(applied));
  const appliedAt = Date.now();
  for (let i = 0; i < 2; i++) {
    ws.replace('crontab', invalidate(makeVersion(++n, ledger, random).text, random));
    daemon.signal('SIGHUP');
    counts.sighups++;
  }
  const refused = await runCli(['reload', '--state-dir', 'state'], { cwd: ws.dir });
  assert.equal(refused.code, 1, JSON.stringify(refused));

  // The daemon's schedule is the last valid file: same ids, schedules and commands.
  const listed = await runCli(['list', '--json', '-c', 'crontab', '--state-dir', 'state'], { cwd: ws.dir });
  assert.equal(listed.code, 0, JSON.stringify(listed));
  const jobs = (JSON.parse(listed.stdout) as { id: string; schedule: string; command: string; running?: boolean }[]).map(({ id, schedule, command, running }) => ({ id, schedule, command, daemon: running !== undefined }));
  const expected = lastValid.jobs.map(({ id, schedule, command }) => ({ id, schedule, command: command.replace(/\\%/g, '%'), daemon: true }));
  assert.deepEqual(jobs, expected, 'schedd list should show the last valid file, as the daemon runs it');

  // ... and it fires that file: each per-second job of it fires after the last reload.
  const perSecond = lastValid.jobs.filter((job) => job.schedule !== '@reboot' && !job.id.startsWith('long-')).map((job) => job.id);
  await waitUntil(`each of ${perSecond.join(', ')} to fire after the last reload`, () => {
    const fired = new Set(starts(readLedger(ledger)).filter((e) => Date.parse(e.scheduledAt) > appliedAt).map((e) => e.job));
    return perSecond.every((job) => fired.has(job));
  });

  // The long jobs, started before the storm, run to their end, undisturbed.
  await waitUntil('the long jobs to end', () => readLedger(ledger).filter((e) => e.kind === 'end' && (e.run === longBoot.run || e.run === longTick.run)).length === 2, (LONG_S + 20) * 1000);
  const status = await runCli(['status', '--json', '--state-dir', 'state'], { cwd: ws.dir });
  assert.equal(status.code, 0, `the daemon should live: ${JSON.stringify(status)}`);
  assert.equal((JSON.parse(status.stdout) as { lastReload: { ok: boolean } }).lastReload.ok, false);
  const stopFrom = daemon.records.length;
  assert.equal(await daemon.stop(), 0, daemon.stderr);

  const events = readLedger(ledger);
  const history = await readHistory(ws.dir, ws.path('state'));
  const problems: string[] = [];
  for (const [slot, count] of doubledSlots(events)) problems.push(`slot ${slot} started ${count} times`);
  problems.push(...doubledClaims(history));

  // No job outside the last valid file fired a slot after it was applied.
  const kept = new Set(lastValid.jobs.map((job) => job.id));
  for (const start of starts(events)) if (!kept.has(start.job) && Date.parse(start.scheduledAt) > appliedAt) problems.push(`${start.job}, not in the last valid file, fired ${start.scheduledAt}`);

  // Undisturbed: every run that ended before the stop finished ok; nothing was cancelled.
  const records = daemon.records.slice(0, stopFrom);
  let disturbed = 0;
  for (const record of records) {
    if ((RUN_END_MESSAGES.includes(record.msg) && record.msg !== 'job finished') || record.msg === 'job run cancelled') {
      disturbed++;
      problems.push(`run ${record.run} (${record.job}) disturbed: ${record.msg} ${record.reason ?? ''}`);
    }
  }
  for (const long of [longBoot, longTick]) {
    const ends = events.filter((e) => e.kind === 'end' && e.run === long.run);
    const finished = records.filter((r) => r.msg === 'job finished' && r.run === long.run);
    const record = history.find((r) => r.runId === long.run);
    const ranMs = (ends[0]?.atMs ?? 0) - long.atMs;
    if (ends.length !== 1 || ranMs < LONG_S * 1000 || finished.length !== 1 || record?.outcome !== 'ok' || record.exitCode !== 0) {
      disturbed++;
      problems.push(`long run ${long.run} (${long.job}): ${ends.length} end(s), ran ${ranMs} ms, ${finished.length} 'job finished', history ${JSON.stringify(record)}`);
    }
    if (starts(events, long.job).filter((e) => e.atMs < long.atMs + LONG_S * 1000).length !== 1) problems.push(`${long.job} started again while its first run ran`);
  }

  // An invalid file keeps the schedule running: tick, in every file, fired every second of the
  // storm. A reload that removed it applied a file never written as such (a read of a half-written
  // in-place rewrite, between the truncate and the write): counted, shown, and failed below.
  const reloads = records.filter((r) => r.msg === 'crontab reloaded');
  const gaps: [number, number][] = [];
  for (const [i, reload] of reloads.entries()) {
    if (!reload.removed?.includes('tick')) continue;
    const back = reloads.slice(i + 1).find((r) => r.added?.includes('tick'));
    gaps.push([Date.parse(reload.time) - 1000, back === undefined ? Infinity : Date.parse(back.time) + 1000]);
    t.diagnostic(`a reload applied a file never written as such (${reload.jobs} jobs; removed ${reload.removed.join(', ')}), ${back === undefined ? 'never undone' : `undone ${Date.parse(back.time) - Date.parse(reload.time)} ms later`}`);
  }
  const tickSlots = new Set(starts(events, 'tick').map((e) => Date.parse(e.scheduledAt)));
  let tickSlotsChecked = 0;
  for (let slot = Math.ceil(stormStart / 1000) * 1000; slot <= stormEnd - 1000; slot += 1000) {
    if (gaps.some(([from, to]) => slot >= from && slot <= to)) continue;
    tickSlotsChecked++;
    if (!tickSlots.has(slot)) problems.push(`tick did not fire its slot ${new Date(slot).toISOString()} during the storm`);
  }
  // Every run in the ledger is in the history, as the same job and slot.
  const byId = new Map(history.map((r) => [r.runId, r]));
  for (const start of starts(events)) {
    const record = byId.get(start.run);
    if (record === undefined || record.job !== start.job || record.scheduledAt !== start.scheduledAt) problems.push(`run ${start.run} (${start.job} ${start.scheduledAt}) not in the history as such: ${JSON.stringify(record)}`);
  }
  assert.deepEqual(problems, [], `seed ${seed}`);

  const all = daemon.records;
  const rejected = all.filter((r) => /^reload rejected: .* has \d+ errors?; keeping the current schedule$/.test(r.msg)).length;
  const figures = {
    seed,
    stormSeconds: Math.round((stormEnd - stormStart) / 1000),
    reloadsAttempted: counts.rewrites + 1 + 2 + counts.sighups + 2,
    rewrites: counts.rewrites + 3,
    rewritesInPlace: counts.inPlace,
    rewritesByRename: counts.byRename + 3,
    validFiles: counts.valid + 1,
    invalidFiles: counts.invalid + 2,
    sighups: counts.sighups,
    reloadsApplied: all.filter((r) => r.msg === 'crontab reloaded').length,
    reloadsRejected: rejected,
    reloadsUnchanged: all.filter((r) => r.msg === 'crontab unchanged').length,
    reloadsFailed: all.filter((r) => r.msg.startsWith('reload failed')).length,
    halfWrittenReadsApplied: gaps.length,
    tickSlotsChecked,
    runs: starts(events).length,
    doubled: doubledSlots(events).size,
    disturbed,
  };
  assert.equal(figures.reloadsFailed, 0);
  assert.equal(figures.halfWrittenReadsApplied, 0, 'regression: a reload read a half-written in-place rewrite and dropped every job');
  assert.ok(figures.reloadsRejected >= counts.invalid / 4, `invalid files should be rejected: ${JSON.stringify(figures)}`);
  t.diagnostic(reportFigures('reload-storm', figures));
});
