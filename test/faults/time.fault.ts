// Scenario 6, time: DST transitions and wall-clock jumps in several zones. In-process, the real
// Scheduler runs on an injected clock against an oracle of Vixie's rules (time-sim.ts); for a
// whole process, libfaketime moves the real daemon's wall clock and its jobs' (time-faketime.ts).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { after, describe, it } from 'node:test';
import { killAllDaemons } from '../helpers/daemon.js';
import { reportFigures } from './ledger.js';
import { checkSimulation, emptyStats, jobsFor, MINUTE } from './time-check.js';
import { simulate, transitionsIn, type Action } from './time-sim.js';

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
      // Up to 5 minutes behaves like a late wake: every slot fires.
      fc.integer({ min: 1_000, max: 4 * MINUTE + 30_000 }).map((ms): Action => ({ kind: 'jump', ms })),
      // Forward up to 3 hours: fixed-time slots fire once each, wildcard jobs once for now.
      fc.integer({ min: 6 * MINUTE, max: 2 * HOUR + 50 * MINUTE }).map((ms): Action => ({ kind: 'jump', ms })),
      // Forward beyond 3 hours: a correction, nothing replayed.
      fc.integer({ min: 3 * HOUR + 10 * MINUTE, max: 12 * HOUR }).map((ms): Action => ({ kind: 'jump', ms })),
      // Back by up to 3 hours: nothing repeats.
      fc.integer({ min: 1_000, max: 2 * HOUR + 50 * MINUTE }).map((ms): Action => ({ kind: 'jump', ms: -ms })),
    );
    const action = fc.oneof(
      { arbitrary: fc.integer({ min: 1_000, max: 45 * MINUTE }).map((ms): Action => ({ kind: 'advance', ms })), weight: 3 },
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
