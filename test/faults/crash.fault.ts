// Scenario 1, crash: kill -9 schedd at random moments (after start-up, with jobs running, just
// after a crontab rewrite, while idle), restart it on the same state directory each time, then
// hold the run history against the ledger the jobs wrote themselves (see crash-helpers.ts for
// the exact invariants). The moments come from a seeded PRNG: SCHEDD_FAULT_SEED=N replays them.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, test } from 'node:test';
import { killAllDaemons, hasExited, RUN_END_MESSAGES, workspace, type LogRecord } from '../helpers/daemon.js';
import { cleanupAll, instance } from '../helpers/detached.js';
import { checkCrashInvariants, faultSeed, outcomeOfEndMessage, readHistory, runIdTime, seededRandom, waitForJobsToEnd, type SchedulerLife } from './crash-helpers.js';
import { ledgerCommand, readLedger, reportFigures } from './ledger.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);
after(cleanupAll);

// Records are never pruned during the scenario: every run must stay checkable.
const DAEMON_ARGS = ['--keep-runs', '1000000'];

const entry = (name: string, schedule: string, command: string, options = ''): string => `# schedd: name=${name}${options}\n${schedule} ${command}\n`;

/**
 * Two crontabs the scenario switches between: `quick` changes its command, `slow` leaves,
 * `even` arrives, `multi` (overlap=allow, 2.5 s runs, so kills land mid-run) stays as it is.
 */
function crontabs(ledger: string): { text: string; jobs: string[] }[] {
  return [
    {
      text: entry('quick', '* * * * * *', ledgerCommand(ledger, 'true')) + entry('slow', '* * * * * *', ledgerCommand(ledger, 'sleep 1.5')) + entry('multi', '* * * * * *', ledgerCommand(ledger, 'sleep 2.5'), ' overlap=allow'),
      jobs: ['quick', 'slow', 'multi'],
    },
    {
      text: entry('quick', '* * * * * *', ledgerCommand(ledger, ': b')) + entry('multi', '* * * * * *', ledgerCommand(ledger, 'sleep 2.5'), ' overlap=allow') + entry('even', '*/2 * * * * *', ledgerCommand(ledger, 'sleep 0.3')),
      jobs: ['quick', 'multi', 'even'],
    },
  ];
}

/** Runs whose end a scheduler logged, with the outcome it logged. */
function loggedEnds(records: readonly LogRecord[]): Map<string, string> {
  const ends = new Map<string, string>();
  for (const record of records) if (RUN_END_MESSAGES.includes(record.msg) && record.run !== undefined) ends.set(record.run, outcomeOfEndMessage(record.msg)!);
  return ends;
}

type KillMoment = 'start-up' | 'idle' | 'mid-run' | 'mid-reload';

/** The kill moments of a run: a fixed mix, in a seeded order. */
function killPlan(random: () => number): KillMoment[] {
  const plan: KillMoment[] = [...Array<KillMoment>(6).fill('start-up'), ...Array<KillMoment>(12).fill('idle'), ...Array<KillMoment>(18).fill('mid-run'), ...Array<KillMoment>(14).fill('mid-reload')];
  for (let i = plan.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [plan[i], plan[j]] = [plan[j]!, plan[i]!];
  }
  return plan;
}

/** Waits until each of `jobs` has a run made after `since` (a run id says when it was made). */
async function eachFiresAfter(ledger: string, jobs: readonly string[], since: number): Promise<void> {
  await waitUntil(`each of ${jobs.join(', ')} to fire after the restart`, () => {
    const fired = new Set(readLedger(ledger).filter((e) => e.kind === 'start' && runIdTime(e.run) > since).map((e) => e.job));
    return jobs.every((job) => fired.has(job));
  }, 15_000);
}

test('crash: 50 kill -9 of the foreground daemon at random moments, restarted each time', { timeout: 240_000 }, async (t) => {
  const seed = faultSeed();
  t.diagnostic(`seed ${seed} (SCHEDD_FAULT_SEED=${seed} replays these kill moments)`);
  const random = seededRandom(seed);
  const ws = workspace(t);
  const ledger = ws.path('ledger');
  const versions = crontabs(ledger);
  let version = 0;
  ws.write('crontab', versions[version]!.text);
  const lives: SchedulerLife[] = [];
  const moments = new Map<KillMoment, number>();
  let reloadsBeforeKill = 0;
  let rewritesUnread = 0;

  for (const [cycle, moment] of killPlan(random).entries()) {
    const daemon = ws.start({ args: DAEMON_ARGS });
    // The pauses below pick the kill moment; they synchronise nothing.
    if (moment === 'start-up') {
      // Node needs ~100 ms to load schedd; start-up (lost runs, missed slots) comes after.
      await delay(40 + random() * 300);
    } else {
      await daemon.waitFor({ msg: 'schedd started' });
      // The next slots fire after every restart.
      await daemon.waitFor({ msg: 'job started' }, 10_000);
      if (moment === 'idle') await delay(random() * 1000);
      if (moment === 'mid-run') {
        await daemon.waitFor({ msg: 'job started', job: 'multi' }, 10_000);
        await delay(random() * 2500);
      }
      if (moment === 'mid-reload') {
        await delay(random() * 700);
        version = 1 - version;
        if (random() < 0.5) ws.write('crontab', versions[version]!.text);
        else ws.replace('crontab', versions[version]!.text);
        // The watch debounces 50 ms: some kills come before the reload, some during, some after.
        await delay(random() * 150);
      }
    }
    daemon.signal('SIGKILL');
    const exit = await daemon.waitExit(10_000);
    assert.deepEqual(exit, { code: null, signal: 'SIGKILL' }, `cycle ${cycle} (${moment}): the daemon exited by itself before the kill\n${daemon.stderr}`);
    lives.push({ diedAt: Date.now(), killed: true, loggedEnds: loggedEnds(daemon.records) });
    moments.set(moment, (moments.get(moment) ?? 0) + 1);
    if (moment === 'mid-reload') {
      if (daemon.all({ msg: 'crontab reloaded' }).length > 0) reloadsBeforeKill++;
      else rewritesUnread++;
    }
  }

  // The last restart: every job of the crontab now in place fires, then a clean stop.
  const final = ws.start({ args: DAEMON_ARGS });
  await final.waitFor({ msg: 'schedd started' });
  const lastDeath = lives[lives.length - 1]!.diedAt;
  await eachFiresAfter(ledger, versions[version]!.jobs, lastDeath);
  assert.equal(await final.stop(), 0, final.stderr);
  lives.push({ diedAt: Date.now(), killed: false, loggedEnds: loggedEnds(final.records) });

  await waitForJobsToEnd(() => readLedger(ledger));
  const events = readLedger(ledger);
  const history = await readHistory(ws.dir, ws.path('state'));
  const { problems, figures } = checkCrashInvariants(events, history, lives);
  assert.deepEqual(problems, [], `seed ${seed}`);
  assert.ok(figures.lostInFlight >= 10, `kills mid-run should leave runs in flight (seed ${seed}): ${JSON.stringify(figures)}`);
  const kills = lives.filter((life) => life.killed).length;
  t.diagnostic(
    reportFigures('crash', {
      seed,
      kills,
      killsSurvived: kills,
      killsAtStartUp: moments.get('start-up') ?? 0,
      killsIdle: moments.get('idle') ?? 0,
      killsMidRun: moments.get('mid-run') ?? 0,
      killsMidReload: moments.get('mid-reload') ?? 0,
      midReloadAfterApplied: reloadsBeforeKill,
      midReloadBeforeApplied: rewritesUnread,
      ...figures,
    }),
  );
});

test('crash: kill -9 of the scheduler under the detached watchdog, which restarts it', { timeout: 120_000 }, async (t) => {
  const seed = faultSeed();
  t.diagnostic(`seed ${seed}`);
  const random = seededRandom(seed);
  const s = instance(t);
  const ledger = s.path('ledger');
  const jobs = ['quick', 'multi'];
  s.write('crontab', entry('quick', '* * * * * *', ledgerCommand(ledger, 'true')) + entry('multi', '* * * * * *', ledgerCommand(ledger, 'sleep 2.5'), ' overlap=allow'));
  await s.started(DAEMON_ARGS);
  const lives: Omit<SchedulerLife, 'loggedEnds'>[] = [];
  // The watchdog waits 1 s, 2 s, 4 s before restarts; five crashes in a minute and it gives up.
  const KILLS = 3;
  let from = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const { schedulerPid } = await s.status();
    from = (await s.waitForLog({ msg: 'job started', job: 'multi' }, { from })).index + 1;
    await delay(random() * 2500);
    process.kill(schedulerPid, 'SIGKILL');
    await waitUntil(`scheduler ${schedulerPid} to die`, () => hasExited(schedulerPid));
    lives.push({ diedAt: Date.now(), killed: true });
    await waitUntil('the watchdog to start a new scheduler', async () => {
      const status = await s.status().catch(() => null);
      return status !== null && status.schedulerPid !== schedulerPid;
    }, 20_000);
  }
  await eachFiresAfter(ledger, jobs, lives[lives.length - 1]!.diedAt);
  const status = await s.status();
  assert.equal(status.restarts, KILLS);
  const stopped = await s.stop();
  assert.equal(stopped.code, 0, JSON.stringify(stopped));
  lives.push({ diedAt: Date.now(), killed: false });

  const records = s.records();
  assert.deepEqual(
    records.filter((r) => r.msg.startsWith('scheduler exited unexpectedly')).map((r) => [r.signal, r.count]),
    Array.from({ length: KILLS }, (_, i) => ['SIGKILL', i + 1]),
  );
  const ends = loggedEnds(records);
  await waitForJobsToEnd(() => readLedger(ledger));
  const history = await readHistory(s.dir, s.stateDir);
  const { problems, figures } = checkCrashInvariants(readLedger(ledger), history, lives.map((life) => ({ ...life, loggedEnds: ends })));
  assert.deepEqual(problems, [], `seed ${seed}`);
  t.diagnostic(reportFigures('crash-watchdog', { seed, kills: KILLS, killsSurvived: KILLS, watchdogRestarts: status.restarts, ...figures }));
});
