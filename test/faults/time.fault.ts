// Scenario 6, time: DST transitions and wall-clock jumps in several zones. In-process, the real
// Scheduler runs on an injected clock against an oracle of Vixie's rules (time-sim.ts); for a
// whole process, libfaketime moves the real daemon's wall clock and its jobs' (time-faketime.ts).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { after, describe, it } from 'node:test';
import { killAllDaemons, workspace, type LogRecord } from '../helpers/daemon.js';
import { doubledSlots, ledgerCommand, readLedger, reportFigures } from './ledger.js';
import { checkSimulation, emptyStats, jobsFor, MINUTE } from './time-check.js';
import { FakedWallClock, findLibfaketime } from './time-faketime.js';
import { simulate, transitionsIn, type Action } from './time-sim.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

const HOUR = 60 * MINUTE;
const YEAR = 2026;
const ZONES = ['America/New_York', 'Europe/London', 'Europe/Berlin', 'Australia/Lord_Howe', 'America/Santiago', 'Asia/Kolkata', 'Pacific/Chatham'];
const stats = emptyStats();

describe('time: the scheduler on an injected clock, against an oracle of Vixie rules', () => {
  it('every 2026 transition of every zone, no jumps: gap slots once at the gap end, fixed-time slots in the first pass only, wildcard slots in both', () => {
    let transitions = 0;
    for (const zone of ZONES) {
      const jobs = jobsFor(zone, YEAR);
      for (const tr of transitionsIn(zone, YEAR)) {
        transitions++;
        const result = simulate(zone, jobs, tr.at - 4 * HOUR + 17_000, [{ kind: 'advance', ms: 8 * HOUR }]);
        checkSimulation(zone, jobs, result, stats);
      }
    }
    // Lord_Howe, Santiago and Chatham are southern: their 2026 transitions are in April and
    // September/October; Kolkata has none.
    assert.equal(transitions, 12);
    assert.ok(stats.gapEndSlots >= 6 * 2 && stats.secondPassWildcardSlots > 0 && stats.secondPassFixedSuppressed > 0, JSON.stringify(stats));
  });

  it('random runs around transitions with stalls and wall-clock jumps: every slot fired once or reported skipped, as README says', () => {
    const jump = fc.oneof(
      // Up to 5 s behaves like a late wake: every slot fires.
      fc.integer({ min: 1_000, max: 4_500 }).map((ms): Action => ({ kind: 'jump', ms })),
      // Forward beyond 5 s, up to 3 hours: fixed-time slots fire once each, wildcard jobs once for now.
      fc.integer({ min: 6_000, max: 4 * MINUTE + 30_000 }).map((ms): Action => ({ kind: 'jump', ms })),
      fc.integer({ min: 6 * MINUTE, max: 2 * HOUR + 50 * MINUTE }).map((ms): Action => ({ kind: 'jump', ms })),
      // Forward beyond 3 hours: a correction, nothing replayed.
      fc.integer({ min: 3 * HOUR + 10 * MINUTE, max: 12 * HOUR }).map((ms): Action => ({ kind: 'jump', ms })),
      // Back by up to 3 hours: nothing repeats.
      fc.integer({ min: 1_000, max: 2 * HOUR + 50 * MINUTE }).map((ms): Action => ({ kind: 'jump', ms: -ms })),
    );
    const action = fc.oneof(
      { arbitrary: fc.integer({ min: 1_000, max: 45 * MINUTE }).map((ms): Action => ({ kind: 'advance', ms })), weight: 3 },
      // A stall of up to 5 s is a late wake; a longer one follows the rules of a jump forward.
      { arbitrary: fc.integer({ min: 1_000, max: 4 * MINUTE + 30_000 }).map((ms): Action => ({ kind: 'stall', ms })), weight: 1 },
      { arbitrary: jump, weight: 2 },
    );
    const scenario = fc.record({
      zone: fc.constantFrom(...ZONES),
      transition: fc.nat(),
      beforeMs: fc.integer({ min: 0, max: 4 * HOUR }),
      actions: fc.array(action, { minLength: 1, maxLength: 12 }),
    });
    const jobsByZone = new Map(ZONES.map((zone) => [zone, jobsFor(zone, YEAR)]));
    const seed = Date.now() % 2_147_483_647;
    fc.assert(
      fc.property(scenario, ({ zone, transition, beforeMs, actions }) => {
        const transitions = transitionsIn(zone, YEAR);
        const around = transitions.length === 0 ? Date.UTC(YEAR, 5, 1, 12) : transitions[transition % transitions.length]!.at;
        checkSimulation(zone, jobsByZone.get(zone)!, simulate(zone, jobsByZone.get(zone)!, around - beforeMs, actions), stats);
      }),
      { numRuns: 300, seed },
    );
  });

  it('a jump back of more than 3 hours is a correction: jobs continue from the new time', () => {
    const zone = 'Europe/Berlin';
    const jobs = [{ name: 'quarter', minute: '*/15', hour: '*' }];
    const start = Date.UTC(YEAR, 2, 29, 0, 5);
    const result = simulate(zone, jobs, start, [{ kind: 'advance', ms: 2 * HOUR }, { kind: 'jump', ms: -5 * HOUR }, { kind: 'advance', ms: 31 * MINUTE }]);
    const fires = result.events.filter((e) => e.kind !== 'skip').map((e) => (e.kind === 'jump' ? `${e.jumpKind} ${e.at / MINUTE}m` : new Date(e.at).toISOString().slice(11, 16)));
    // 00:05Z + 2 h runs to 02:05Z (04:05 CEST, after the 02:00 CET gap); back 5 h to 21:05Z.
    assert.deepEqual(fires, ['00:15', '00:30', '00:45', '01:00', '01:15', '01:30', '01:45', '02:00', 'correction -300m', '21:15', '21:30']);
  });

  it('figures', (t) => {
    assert.equal(stats.doubled + stats.lost, 0);
    t.diagnostic(reportFigures('time-in-process', { zones: ZONES.length, ...stats }));
  });
});

describe('time: the real daemon under libfaketime', () => {
  it('America/New_York, 2026-03-08: across the spring-forward gap, a jump forward of 10 min and one back of 8 s', async (t) => {
    const library = findLibfaketime();
    if (library === null) {
      // CI installs the faketime package (.ci/run): there, a missing library is a failure, not a pass.
      if (process.env.CI !== undefined && process.env.CI !== '') assert.fail('libfaketime not found (apt-get install faketime): the whole-process time scenario cannot run');
      t.skip('libfaketime not found (apt-get install faketime); CI fails instead of skipping');
      return;
    }
    const ws = workspace(t);
    const ledger = ws.path('ledger');
    const clock = new FakedWallClock(library, ws.path('faketime-offset'));
    const job = (name: string, schedule: string) => `# schedd: name=${name}\n${schedule} ${ledgerCommand(ledger)}\n`;
    ws.write(
      'crontab',
      [job('tick', '* * * * * *'), job('gap', '30 2 * * *'), job('gap-hour', '* 2 * * *'), job('jumped', '7 3 * * *'), job('five', '*/5 * * * *')].join(''),
    );
    // 01:59:50 EST: ten seconds before the clock springs to 03:00 EDT (07:00:00Z).
    clock.setTo('2026-03-08T06:59:50Z');
    const daemon = ws.start({ env: { TZ: 'America/New_York', ...clock.env } });
    const started = await daemon.waitFor({ msg: 'schedd started' });
    assert.ok(Date.parse(started.time) < Date.parse('2026-03-08T06:59:58Z'), `the faked clock does not reach the daemon, or it started too late: started at ${started.time}`);
    const starts = (name: string) => readLedger(ledger).filter((e) => e.kind === 'start' && e.job === name);
    await waitUntil('the gap job and ticks past 03:00:03 EDT', () => starts('gap').length > 0 && starts('tick').some((e) => e.scheduledAt === '2026-03-08T07:00:03.000Z'), 30_000);

    // Forward 10 minutes: under 3 h, so the fixed-time 03:07 fires once; wildcard jobs once for now.
    const beforeJump = daemon.records.length;
    clock.jump(600);
    const forward = await daemon.waitFor((r) => r.msg.startsWith('wall clock jumped forward'), 10_000, beforeJump);
    await waitUntil('the jumped fixed-time slot and ticks after the jump', () => starts('jumped').length > 0 && starts('tick').filter((e) => Date.parse(e.scheduledAt) >= Date.parse('2026-03-08T07:10:00Z')).length >= 3, 15_000);

    // Back 8 seconds: no slot runs again; ticks resume once the clock passes the last one.
    const lastBeforeBack = Math.max(...starts('tick').map((e) => Date.parse(e.scheduledAt)));
    const beforeBack = daemon.records.length;
    clock.jump(-8);
    const backward = await daemon.waitFor((r) => r.msg.startsWith('wall clock jumped back'), 10_000, beforeBack);
    await waitUntil('ticks after the jump back', () => starts('tick').filter((e) => Date.parse(e.scheduledAt) > lastBeforeBack).length >= 2, 20_000);
    assert.equal(await daemon.stop(), 0);

    const events = readLedger(ledger);
    assert.deepEqual([...doubledSlots(events)], []);
    // The fixed-time 02:30 falls in the gap: once, at 03:00 EDT. Hour 2 does not exist that night.
    assert.deepEqual(starts('gap').map((e) => e.scheduledAt), ['2026-03-08T07:00:00.000Z']);
    assert.equal(daemon.all({ msg: 'slot fired after the DST gap', job: 'gap' }).length, 1);
    assert.deepEqual(starts('gap-hour'), []);
    assert.deepEqual(starts('jumped').map((e) => e.scheduledAt), ['2026-03-08T07:07:00.000Z']);
    assert.deepEqual(starts('five').map((e) => e.scheduledAt), ['2026-03-08T07:00:00.000Z', '2026-03-08T07:10:00.000Z']);
    assert.deepEqual(forward.reason, 'forward');
    assert.deepEqual(backward.reason, 'backward');
    assert.equal(daemon.all((r) => r.msg.startsWith('wall clock jumped')).length, 2);
    const fiveSkips = daemon.all((r: LogRecord) => r.msg.startsWith('slots skipped') && r.job === 'five');
    assert.deepEqual(fiveSkips.map((r) => [r.count, r.scheduledAt]), [[1, '2026-03-08T07:05:00.000Z']]);

    // Ticks: one per second, 01:59:59 EST then 03:00:00 EDT, and every slot the jump passed over
    // reported skipped, none lost; nothing twice after the jump back.
    const ticks = starts('tick').map((e) => Date.parse(e.scheduledAt)).sort((a, b) => a - b);
    const wall = (ms: number) => new Intl.DateTimeFormat('en-GB', { timeZone: 'America/New_York', timeStyle: 'medium', hourCycle: 'h23' }).format(ms);
    const at = ticks.indexOf(Date.parse('2026-03-08T07:00:00Z'));
    assert.ok(at > 0, 'a tick at 03:00:00 EDT after one at 01:59:59 EST');
    assert.deepEqual([wall(ticks[at - 1]!), wall(ticks[at]!)], ['01:59:59', '03:00:00']);
    const tickSkips = daemon.all((r) => r.msg.startsWith('slots skipped') && r.job === 'tick');
    assert.equal(tickSkips.length, 1, JSON.stringify(tickSkips));
    let holes = 0;
    for (let i = 1; i < ticks.length; i++) {
      const missing = (ticks[i]! - ticks[i - 1]!) / 1000 - 1;
      if (missing === 0) continue;
      holes++;
      assert.equal(missing, tickSkips[0]!.count, `the jump skipped ${missing} tick slots, the log says ${tickSkips[0]!.count}`);
      assert.equal(Date.parse(tickSkips[0]!.scheduledAt!), ticks[i - 1]! + 1000);
    }
    assert.equal(holes, 1, 'exactly one run of skipped tick slots (the forward jump)');
    const figures = { ticks: ticks.length, tickSlotsSkippedByJump: tickSkips[0]!.count!, gapFires: 1, jumpsForward: 1, jumpsBack: 1, doubled: 0, lost: 0 };
    t.diagnostic(reportFigures('time-faketime', { zone: 'America/New_York', ...figures }));
  });
});
