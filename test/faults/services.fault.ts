// Scenario services: supervised services (issue 14) under faults, in detached mode. Four
// services (seven instances) write their own ledger while the test SIGKILLs their processes
// (alone or with their group), SIGKILLs the scheduler (the watchdog starts another, which must
// adopt what lives and start no second copy), stops a service while it waits to restart, and
// edits the crontab (web's VERSION, during its rolling restarts too; extra removed and added
// back). Then a clean `schedd stop`, and the ledger is held against the history and the log
// (services-check.ts): a process's death is the test's own kill time, or the exit line its
// TERM trap wrote; one with neither is a problem, and /proc says what still lives at the end.
// The plan comes from a seeded PRNG: SCHEDD_FAULT_SEED=N replays it (the order of the faults,
// not their timing). About 80 s.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, test } from 'node:test';
import { call } from '../../src/control/client.js';
import type { ServiceInstanceView } from '../../src/control/commands.js';
import { hasExited } from '../helpers/daemon.js';
import { cleanupAll, instance, procStat } from '../helpers/detached.js';
import { waitUntil } from '../helpers/wait.js';
import { faultSeed, readHistory, seededRandom } from './crash-helpers.js';
import { reportFigures } from './ledger.js';
import { checkServicesInvariants, type Edit, type Kill, type SchedulerLife, type StopWindow } from './services-check.js';
import { runAlive, SERVICE_NAMES, SERVICE_SCRIPT, ServiceLedger, SERVICES, servicesCrontab, type ServiceName, type ServiceRun } from './services-ledger.js';

after(cleanupAll);

// Records are never pruned during the scenario: every process must stay checkable.
const DAEMON_ARGS = ['--keep-runs', '1000000'];

type Action = 'kill' | 'kill-scheduler' | 'stop-in-backoff' | 'edit' | 'toggle-extra';

/** The fault actions of a run: a fixed mix, in a seeded order. */
function faultPlan(random: () => number): Action[] {
  const plan: Action[] = [...Array<Action>(18).fill('kill'), ...Array<Action>(3).fill('kill-scheduler'), ...Array<Action>(3).fill('stop-in-backoff'), ...Array<Action>(6).fill('edit'), ...Array<Action>(4).fill('toggle-extra')];
  for (let i = plan.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [plan[i], plan[j]] = [plan[j]!, plan[i]!];
  }
  return plan;
}

test('services: kills of services and of the scheduler, stops in backoff, edits during rolling restarts', { timeout: 300_000 }, async (t) => {
  const seed = faultSeed();
  t.diagnostic(`seed ${seed} (SCHEDD_FAULT_SEED=${seed} replays this plan)`);
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const s = instance(t);
  const script = s.write('service.sh', SERVICE_SCRIPT);
  const ledgerPath = s.path('ledger');
  const ledger = new ServiceLedger(ledgerPath);
  let crontab = { version: 1, extra: true };
  const edits: Edit[] = [{ atMs: 0, ...crontab }];
  const kills: Kill[] = [];
  const stops: StopWindow[] = [];
  const counts = { killsOfGroups: 0, killsSkipped: 0, killsWhileSchedulerDown: 0, schedulerKills: 0, editsMidRollout: 0, editsWhileSchedulerDown: 0, schedulerKillsMidRollout: 0, extraToggles: 0, stopsInBackoff: 0 };
  const scenarioStart = Date.now();
  s.write('crontab', servicesCrontab(script, ledgerPath, crontab));
  await s.started(DAEMON_ARGS);
  const lives: SchedulerLife[] = [{ pid: (await s.status()).schedulerPid, diedAt: Infinity, killed: false }];

  /** The instance's newest process, if it runs (and the test did not kill it). */
  const upRun = (job: ServiceName, index: number): ServiceRun | undefined => {
    const newest = ledger.refresh().runsOf(job, index).at(-1);
    return newest !== undefined && newest.startAt !== null && newest.exitAt === null && !kills.some((k) => k.run === newest.run) && runAlive(newest) ? newest : undefined;
  };
  const waitUp = (job: ServiceName, index: number): Promise<ServiceRun> => waitUntil(`${job}#${index} to run`, () => upRun(job, index), 30_000);
  const webBehind = (): boolean => Array.from({ length: SERVICES.web.instances }, (_, i) => upRun('web', i)).some((run) => run !== undefined && run.version !== crontab.version);
  const schedulerUp = (): boolean => !hasExited(lives.at(-1)!.pid);

  /**
   * SIGKILL to a service process (or its group), its identity checked first; false if it is
   * gone. The caller draws `group` whether or not there is a process, so that a replay draws
   * the same numbers in the same order.
   */
  const killRun = (run: ServiceRun | undefined, group: boolean): boolean => {
    if (run === undefined || !runAlive(run)) return false;
    try {
      if (group && procStat(run.pid).pgrp !== run.pid) group = false;
    } catch {
      return false;
    }
    const atMs = Date.now();
    process.kill(group ? -run.pid : run.pid, 'SIGKILL');
    kills.push({ run: run.run, job: run.job, instance: run.instance, pid: run.pid, atMs, group });
    if (group) counts.killsOfGroups++;
    if (!schedulerUp()) counts.killsWhileSchedulerDown++;
    return true;
  };
  const killSome = async (job: ServiceName = pick(['web', 'web', 'pair', 'pair', 'solo'] as const)): Promise<void> => {
    const index = Math.floor(random() * SERVICES[job].instances);
    const laterMs = random() < 0.5 ? random() * 1500 : 0;
    const group = random() < 0.5;
    await waitUp(job, index);
    // Now and then a moment later, else at once: a process killed soon after its start (by a
    // restart) is a crash in a row, and waits twice as long.
    if (laterMs > 0) await delay(laterMs);
    if (!killRun(upRun(job, index), group)) counts.killsSkipped++;
  };

  const writeCrontab = (): void => {
    edits.push({ atMs: Date.now(), ...crontab });
    const text = servicesCrontab(script, ledgerPath, crontab);
    if (random() < 0.5) s.write('crontab', text);
    else s.replace('crontab', text);
  };
  const editWeb = (): void => {
    if (webBehind()) counts.editsMidRollout++;
    if (!schedulerUp()) counts.editsWhileSchedulerDown++;
    crontab = { ...crontab, version: crontab.version + 1 };
    writeCrontab();
  };
  const serviceStates = async (): Promise<ServiceInstanceView[]> => (await call(s.socketPath, { cmd: 'services' })).services;

  const actions: Record<Action, () => Promise<void>> = {
    kill: () => killSome(),
    async 'kill-scheduler'() {
      const { schedulerPid } = await s.status();
      if (random() < 0.4) {
        editWeb();
        await delay(random() * 2000);
      }
      if (webBehind()) counts.schedulerKillsMidRollout++;
      lives.at(-1)!.diedAt = Date.now();
      lives.at(-1)!.killed = true;
      process.kill(schedulerPid, 'SIGKILL');
      counts.schedulerKills++;
      await waitUntil(`scheduler ${schedulerPid} to die`, () => hasExited(schedulerPid));
      // While no scheduler runs: an edit its successor must apply, or a process it must find gone.
      const meanwhile = random();
      if (meanwhile < 0.3) editWeb();
      else if (meanwhile < 0.6) killRun(upRun(pick(['web', 'pair', 'solo'] as const), 0), random() < 0.5);
      const next = await waitUntil(
        'the watchdog to start a new scheduler',
        async () => {
          const status = await s.status().catch(() => null);
          return status !== null && status.schedulerPid !== schedulerPid ? status.schedulerPid : undefined;
        },
        30_000,
      );
      lives.push({ pid: next, diedAt: Infinity, killed: false });
      await s.waitForLog({ msg: 'schedd started', daemonPid: next });
    },
    async 'stop-in-backoff'() {
      // Two crashes in a row: the second waits 2 s (or more), time for the stop to land.
      for (let i = 0; i < 2; i++) {
        const group = random() < 0.5;
        if (!killRun(await waitUp('solo', 0), group)) counts.killsSkipped++;
      }
      await waitUntil('solo to wait in backoff', async () => (await serviceStates()).find((v) => v.id === 'solo')?.state === 'backoff', 5000).catch(() => false);
      const stopAt = Date.now();
      const stopped = await s.cli(['service', 'stop', 'solo', '--state-dir', s.stateDir]);
      const stoppedAt = Date.now();
      assert.equal(stopped.code, 0, JSON.stringify(stopped));
      assert.match(stopped.stdout, /^solo: stopped/);
      // The last exit it prints is the crash: the stop found it waiting to restart.
      const inBackoff = /^solo: stopped \(crashed .*; restart in \S+\)\n$/.test(stopped.stdout);
      if (inBackoff) counts.stopsInBackoff++;
      await delay(300 + random() * 1200);
      assert.equal((await serviceStates()).find((v) => v.id === 'solo')?.state, 'stopped', 'solo should stay stopped until started');
      const startAt = Date.now();
      const started = await s.cli(['service', 'start', 'solo', '--state-dir', s.stateDir]);
      const startedAt = Date.now();
      assert.equal(started.code, 0, JSON.stringify(started));
      assert.match(started.stdout, /^solo: running \(pid \d+\)\n$/);
      stops.push({ job: 'solo', stopAt, stoppedAt, startAt, startedAt, inBackoff });
    },
    async edit() {
      const from = s.records().length;
      editWeb();
      const [follow, pauseMs, group] = [random(), 200 + random() * 2000, random() < 0.5];
      // Most often during the rolling restart the edit began: another edit, a kill of the
      // instance being stopped (inside its 0.5 s graceful exit, or just after), or of any web.
      if (follow < 0.25) {
        // None comes when every instance of web was down (killed) at the edit.
        const stopping = await s.waitForLog({ msg: 'service stopping', job: 'web' }, { from, timeoutMs: 5000 }).catch(() => null);
        await delay(pauseMs / 4);
        if (stopping !== null) killRun(upRun('web', Number(stopping.record.instance)), group);
        return;
      }
      await delay(pauseMs);
      if (follow < 0.6) editWeb();
      else if (follow < 0.85) await killSome('web');
    },
    async 'toggle-extra'() {
      crontab = { ...crontab, extra: !crontab.extra };
      writeCrontab();
      counts.extraToggles++;
    },
  };

  for (const [step, action] of faultPlan(random).entries()) {
    await actions[action]().catch((error: Error) => {
      throw new Error(`step ${step} (${action}), seed ${seed}: ${error.message}`, { cause: error });
    });
    // Pacing only: the actions wait for what they need.
    await delay(200 + random() * 1000);
  }

  // A rolling restart cut short by a crash leaves the other instances on the old VERSION until
  // the next edit (as manager.ts means it to): counted here, before the last edit, which no
  // fault follows and which must bring every instance onto its VERSION.
  const upEverywhere = (): boolean =>
    SERVICE_NAMES.every((job) => (job === 'extra' && !crontab.extra) || Array.from({ length: SERVICES[job].instances }, (_, i) => upRun(job, i)).every((run) => run !== undefined && (job !== 'web' || run.version === crontab.version)));
  const convergedAfterPlan = await waitUntil('every instance up, web on the last VERSION', upEverywhere, 10_000).catch(() => false);
  const webBehindAfterPlan = Array.from({ length: SERVICES.web.instances }, (_, i) => upRun('web', i)).filter((run) => run !== undefined && run.version !== crontab.version).length;
  editWeb();
  await waitUntil('every instance up, web on the last VERSION, after the last edit', upEverywhere, 60_000);
  const { restarts: watchdogRestarts } = await s.status();

  const finalStopAt = Date.now();
  const stopped = await s.stop();
  assert.equal(stopped.code, 0, JSON.stringify(stopped));
  lives.at(-1)!.diedAt = Date.now();
  const runs = [...ledger.refresh().runs.values()];
  const aliveAfterStop = runs.filter(runAlive).map((run) => run.run);
  const leftovers = s.processes();
  const history = await readHistory(s.dir, s.stateDir);
  const records = s.records();

  const { problems, knownBugs, figures } = checkServicesInvariants({ runs, kills, lives, stops, edits, finalStopAt, records, history, aliveAfterStop });
  if (leftovers.length > 0) problems.push(`processes of the instance left after the final stop: ${leftovers.join(', ')}`);
  // Reported before the asserts: a failing run's figures say what it went through.
  t.diagnostic(
    reportFigures('services', {
      seed,
      seconds: Math.round((Date.now() - scenarioStart) / 1000),
      kills: kills.length,
      ...counts,
      watchdogRestarts,
      edits: edits.length - 1,
      convergedAfterPlan: convergedAfterPlan === true,
      webBehindAfterPlan,
      ...figures,
      crashRowNotEndedByStableRun: knownBugs.crashRowNotEndedByStableRun.length,
      rolloutTwoDown: knownBugs.rolloutTwoDown.length,
    }),
  );
  assert.equal(watchdogRestarts, counts.schedulerKills, 'the watchdog should have restarted each killed scheduler');
  assert.deepEqual(problems, [], `seed ${seed}`);
  assert.ok(figures.crashRestarts >= 10 && figures.adoptions >= 1, `the plan should crash and adopt services (seed ${seed}): ${JSON.stringify(figures)}`);

  // Two bugs this scenario found (fixed): each has an invariant of its own.
  await t.test('a run up longer than stable= ends the row of crashes, however it ended', () => {
    assert.deepEqual(knownBugs.crashRowNotEndedByStableRun, [], `seed ${seed}`);
  });
  await t.test('a rolling restart taken over by a later edit keeps one instance down at a time', () => {
    assert.deepEqual(knownBugs.rolloutTwoDown, [], `seed ${seed}`);
  });
});
