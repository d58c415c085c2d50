import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCrontab } from '../../src/crontab/parse.js';
import { MAX_WAIT_MS, Scheduler, type ScheduledJob, type Skipped } from '../../src/schedule/scheduler.js';
import { FakeClock } from '../helpers/fake-clock.js';

interface Event {
  job: string;
  kind: 'fire' | 'skip';
  slot: string;
  detail: string;
}

function setup(crontab: string, startIso: string, zone = 'UTC') {
  const clock = new FakeClock(startIso);
  const events: Event[] = [];
  const jumps: string[] = [];
  const iso = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  const scheduler = new Scheduler(clock, zone, {
    fire(job: ScheduledJob, fire, cause, lateMs) {
      events.push({ job: job.id, kind: 'fire', slot: iso(fire.at), detail: `${cause} +${lateMs}` });
    },
    skip(job: ScheduledJob, skipped: Skipped) {
      // `skipped` with the reason code as its detail is the norm; anything else is spelled out.
      const plain = skipped.outcome === 'skipped' && skipped.detail === skipped.reason;
      events.push({ job: job.id, kind: 'skip', slot: `${iso(skipped.firstAt)}-${iso(skipped.lastAt)}`, detail: `${skipped.count}${skipped.atLeast ? '+' : ''} ${skipped.reason}${plain ? '' : ` ${skipped.outcome}: ${skipped.detail}`}` });
    },
    stalled(stalledMs) {
      jumps.push(`stalled ${Math.round(stalledMs / 1000)}s`);
    },
    clockJump(deltaMs, kind) {
      jumps.push(`${kind} ${Math.round(deltaMs / 60_000)}m`);
    },
  });
  const parsed = parseCrontab(crontab);
  assert.deepEqual(parsed.diagnostics.filter((d) => d.severity === 'error'), []);
  scheduler.update(parsed.entries);
  scheduler.start();
  const fires = (job?: string) => events.filter((e) => e.kind === 'fire' && (job === undefined || e.job === job)).map((e) => `${e.slot} ${e.detail}`);
  return { clock, scheduler, events, jumps, fires };
}

describe('scheduler loop (injected clock)', () => {
  it('fires each slot once, on time, and never waits longer than 30 s', () => {
    const { clock, fires } = setup('# schedd: name=a\n* * * * * a\n', '2026-01-01T10:00:30Z');
    clock.advance(150_000);
    assert.deepEqual(fires(), ['10:01:00 on-time +0', '10:02:00 on-time +0', '10:03:00 on-time +0']);
    assert.ok(Math.max(...clock.delays) <= MAX_WAIT_MS);
  });

  it('regression (issue 15): an entry that never fires (0 23-1 * * *, which cron accepts) has no slot, no error and no busy loop', () => {
    const { clock, scheduler, fires } = setup('# schedd: name=never\n0 23-1 * * * n\n# schedd: name=a\n* * * * * a\n', '2026-01-01T22:59:30Z');
    clock.advance(3 * 60_000);
    assert.deepEqual(fires(), ['23:00:00 on-time +0', '23:01:00 on-time +0', '23:02:00 on-time +0']);
    assert.equal(clock.delays.length, 7);
    assert.ok(clock.delays.every((d) => d >= 29_000 && d <= MAX_WAIT_MS), clock.delays.join(','));
    const job = scheduler.get('never');
    assert.equal(job?.next, null);
  });

  it('wakes every 30 s while the next slot is far away', () => {
    const { clock, fires } = setup('# schedd: name=a\n@daily a\n', '2026-01-01T10:00:00Z');
    clock.advance(5 * 60_000);
    assert.deepEqual(fires(), []);
    assert.equal(clock.delays.length, 11);
    assert.ok(clock.delays.every((d) => d === MAX_WAIT_MS));
  });

  it('fires every due slot, late, when woken up to 5 s late (a busy loop)', () => {
    const { clock, events, fires } = setup('# schedd: name=tick\n* * * * * * t\n', '2026-01-01T10:00:00.500Z');
    clock.advance(1000);
    clock.stall(4_400);
    assert.deepEqual(fires('tick'), ['10:00:01 on-time +0', '10:00:02 late +3900', '10:00:03 late +2900', '10:00:04 late +1900', '10:00:05 on-time +900']);
    assert.deepEqual(events.filter((e) => e.kind === 'skip'), []);
  });

  it('regression (issue 11 item 10): a 4-minute stall fires each fixed-time slot once, in order, and a wildcard job once for now, its other slots missed (they all fired at once, and overlap=skip recorded them as overlaps)', () => {
    const { clock, events, jumps, fires } = setup('# schedd: name=a\n* * * * * a\n# schedd: name=d\n56,57,58 10 * * * d\n# schedd: name=e\n0 11 * * * e\n', '2026-01-01T10:55:30Z');
    clock.stall(4 * 60_000);
    assert.deepEqual(jumps, ['stalled 210s']);
    assert.deepEqual(fires('a'), ['10:59:00 late +30000']);
    assert.deepEqual(fires('d'), ['10:56:00 late +210000', '10:57:00 late +150000', '10:58:00 late +90000']);
    assert.deepEqual(events.filter((e) => e.kind === 'skip').map((e) => `${e.job} ${e.slot} ${e.detail}`), ['a 10:56:00-10:58:00 3 stall missed: schedd was stalled for 210 s (process stopped or machine suspended)']);
    clock.advance(61_000);
    assert.deepEqual(fires('e'), ['11:00:00 on-time +0']);
    assert.deepEqual(fires('a').slice(1), ['11:00:00 on-time +0']);
  });

  it('regression (issue 11 item 10): a 90 s stall of a per-second job runs it once for now and records the other 89 slots missed, not 89 overlaps', () => {
    const { clock, events, jumps, fires } = setup('# schedd: name=tick\n* * * * * * t\n', '2026-01-01T10:00:00.500Z');
    clock.advance(1000);
    clock.stall(90_000);
    assert.deepEqual(jumps, ['stalled 90s']);
    assert.deepEqual(fires('tick'), ['10:00:01 on-time +0', '10:01:31 late +500']);
    assert.deepEqual(events.filter((e) => e.kind === 'skip').map((e) => `${e.slot} ${e.detail}`), ['10:00:02-10:01:30 89 stall missed: schedd was stalled for 90 s (process stopped or machine suspended)']);
    clock.advance(1000);
    assert.deepEqual(fires('tick').slice(2), ['10:01:32 on-time +0']);
  });

  it('a 30 s jump of the wall clock alone (monotonic time did not follow) is a jump, its wildcard slots skipped, not missed', () => {
    const { clock, events, jumps, fires } = setup('# schedd: name=tick\n* * * * * * t\n', '2026-01-01T10:00:00.500Z');
    clock.advance(1000);
    clock.jumpWall(30_000);
    clock.advance(1000);
    assert.deepEqual(jumps, ['forward 1m']);
    assert.deepEqual(fires('tick'), ['10:00:01 on-time +0', '10:00:32 clock-jump +0']);
    assert.deepEqual(events.filter((e) => e.kind === 'skip').map((e) => `${e.slot} ${e.detail}`), ['10:00:02-10:00:31 30 clock-jump']);
  });

  it('forward jump up to 3 h: fixed-time slots fire once each, wildcard jobs once for now', () => {
    const { clock, events, jumps, fires } = setup('# schedd: name=fixed\n0,30 10-12 * * * f\n# schedd: name=wild\n*/10 * * * * w\n', '2026-01-01T10:05:00Z');
    clock.advance(10_000);
    clock.jumpWall(2 * 3_600_000);
    clock.advance(20_000);
    assert.deepEqual(jumps, ['forward 120m']);
    assert.deepEqual(fires('fixed'), ['10:30:00 clock-jump +5730000', '11:00:00 clock-jump +3930000', '11:30:00 clock-jump +2130000', '12:00:00 clock-jump +330000']);
    assert.deepEqual(fires('wild'), ['12:00:00 clock-jump +330000']);
    assert.deepEqual(events.filter((e) => e.kind === 'skip').map((e) => `${e.job} ${e.slot} ${e.detail}`), ['wild 10:10:00-11:50:00 11 clock-jump']);
    clock.advance(5 * 60_000);
    assert.deepEqual(fires('wild').slice(1), ['12:10:00 on-time +0']);
  });

  it('regression: after a forward jump of more than 1000 per-second slots, the slot fired was the 1000th missed one, minutes stale, not the latest', () => {
    const { clock, events, jumps, fires } = setup('# schedd: name=tick\n* * * * * * t\n', '2026-01-01T10:00:00.500Z');
    clock.advance(1000);
    clock.jumpWall(30 * 60_000);
    clock.advance(1000);
    assert.deepEqual(jumps, ['forward 30m']);
    assert.deepEqual(fires('tick'), ['10:00:01 on-time +0', '10:30:02 clock-jump +0']);
    assert.deepEqual(events.filter((e) => e.kind === 'skip').map((e) => `${e.slot} ${e.detail}`), ['10:00:02-10:30:01 1001+ clock-jump']);
    clock.advance(1000);
    assert.deepEqual(fires('tick').slice(2), ['10:30:03 on-time +0']);
  });

  it('forward jump over 3 h is a correction: skipped slots are reported, none fires', () => {
    const { clock, events, jumps, fires } = setup('# schedd: name=fixed\n0 12 * * * f\n# schedd: name=wild\n0 * * * * w\n', '2026-01-01T10:05:00Z');
    clock.advance(10_000);
    clock.jumpWall(5 * 3_600_000);
    clock.advance(20_000);
    assert.deepEqual(jumps, ['correction 300m']);
    assert.deepEqual(fires(), []);
    assert.deepEqual(events.map((e) => `${e.job} ${e.slot} ${e.detail}`), ['wild 11:00:00-15:00:00 5 clock-correction', 'fixed 12:00:00-12:00:00 1 clock-correction']);
    clock.advance(60 * 60_000);
    assert.deepEqual(fires(), ['16:00:00 on-time +0']);
  });

  it('backward jump up to 3 h never repeats a slot already fired', () => {
    const { clock, jumps, fires } = setup('# schedd: name=a\n*/15 * * * * a\n', '2026-01-01T10:14:50Z');
    clock.advance(15_000);
    assert.deepEqual(fires(), ['10:15:00 on-time +0']);
    clock.jumpWall(-60 * 60_000);
    clock.advance(75 * 60_000);
    assert.deepEqual(jumps, ['backward -60m']);
    assert.deepEqual(fires(), ['10:15:00 on-time +0', '10:30:00 on-time +0']);
  });

  it('backward jump over 3 h is a correction: jobs reschedule from the new time', () => {
    const { clock, jumps, fires } = setup('# schedd: name=a\n0 * * * * a\n', '2026-01-01T10:59:50Z');
    clock.advance(15_000);
    clock.jumpWall(-5 * 3_600_000);
    clock.advance(60 * 60_000);
    assert.deepEqual(jumps, ['correction -300m']);
    assert.deepEqual(fires(), ['11:00:00 on-time +0', '07:00:00 on-time +0']);
  });

  it('follows DST: a fixed-time slot in the gap fires at its end, a wildcard job skips the gap', () => {
    const { clock, fires } = setup('# schedd: name=fixed\n30 2 * * * f\n# schedd: name=wild\n*/30 * * * * w\n', '2026-03-08T06:15:00Z', 'America/New_York');
    clock.advance(60 * 60_000);
    assert.deepEqual(fires('fixed'), ['07:00:00 dst-gap +0']);
    assert.deepEqual(fires('wild'), ['06:30:00 on-time +0', '07:00:00 on-time +0']);
  });

  it('fires both passes of a fall-back hour for wildcard jobs, the first only for fixed-time', () => {
    const { clock, fires } = setup('# schedd: name=fixed\n30 1 * * * f\n# schedd: name=wild\n30 * * * * w\n', '2026-11-01T05:00:00Z', 'America/New_York');
    clock.advance(3 * 3_600_000);
    assert.deepEqual(fires('fixed'), ['05:30:00 on-time +0']);
    assert.deepEqual(fires('wild'), ['05:30:00 on-time +0', '06:30:00 on-time +0', '07:30:00 on-time +0']);
  });
});

describe('reload', () => {
  it('diffs by id: keeps unchanged jobs, reschedules changed ones, drops removed ones', () => {
    const { clock, scheduler, fires } = setup('# schedd: name=keep\n*/5 * * * * k\n# schedd: name=retime\n0 * * * * r\n# schedd: name=gone\n* * * * * g\n', '2026-01-01T10:00:30Z');
    const keep = scheduler.get('keep')!;
    const diff = scheduler.update(parseCrontab('# schedd: name=keep\n*/5 * * * * k\n# schedd: name=retime\n*/2 * * * * r\n# schedd: name=new\n*/3 * * * * n\n').entries);
    assert.deepEqual(diff, { added: ['new'], changed: ['retime'], removed: ['gone'], unchanged: 1 });
    assert.equal(scheduler.get('keep'), keep);
    clock.advance(4 * 60_000);
    assert.deepEqual(fires('retime'), ['10:02:00 on-time +0', '10:04:00 on-time +0']);
    assert.deepEqual(fires('new'), ['10:03:00 on-time +0']);
    assert.deepEqual(fires('gone'), []);
  });

  it('does not fire a slot again when a reload retimes a job right after it fired', () => {
    const { clock, scheduler, fires } = setup('# schedd: name=a\n* * * * * a\n', '2026-01-01T10:00:59Z');
    clock.advance(1_500);
    assert.deepEqual(fires(), ['10:01:00 on-time +0']);
    clock.jumpWall(-2_000); // the clock steps back 2 s, to before the slot that just fired
    scheduler.update(parseCrontab('# schedd: name=a\n*/1 * * * * * a\n').entries);
    clock.advance(2_500);
    assert.deepEqual(fires(), ['10:01:00 on-time +0', '10:01:01 on-time +0']);
  });
});

describe('preparing ahead of a slot', () => {
  function withPrepare(crontab: string, startIso: string, prepareCostMs = 0, fireCostMs = 0) {
    const clock = new FakeClock(startIso);
    const log: string[] = [];
    const iso = (ms: number) => new Date(ms).toISOString().slice(11, 23);
    const scheduler = new Scheduler(clock, 'UTC', {
      prepare: (job, fire) => {
        log.push(`prepare ${job.id} for ${iso(fire.at)} at ${iso(clock.now())}`);
        clock.spend(prepareCostMs);
      },
      unprepare: (job) => log.push(`unprepare ${job.id} at ${iso(clock.now())}`),
      fire: (job, fire) => {
        log.push(`fire ${job.id} ${iso(fire.at)} at ${iso(clock.now())}`);
        clock.spend(fireCostMs);
      },
      skip: () => undefined,
    });
    scheduler.update(parseCrontab(crontab).entries);
    scheduler.start();
    return { clock, scheduler, log };
  }

  /** `count` jobs named PREFIX0.. on one schedule, as crontab lines. */
  const jobs = (prefix: string, count: number, schedule: string): string[] => Array.from({ length: count }, (_, i) => `# schedd: name=${prefix}${i}\n${schedule} ${prefix}${i}`);

  it('prepares each slot once, shortly before it, then fires it on time', () => {
    const { clock, log } = withPrepare('# schedd: name=a\n* * * * * a\n', '2026-01-01T10:00:30Z');
    clock.advance(90_000);
    assert.deepEqual(log, ['prepare a for 10:01:00.000 at 10:00:59.930', 'fire a 10:01:00.000 at 10:01:00.000', 'prepare a for 10:02:00.000 at 10:01:59.930', 'fire a 10:02:00.000 at 10:02:00.000']);
  });

  it('regression (issue 13): fires on time after a prepare that took 12 ms (the next timer counted from before it fired every prepared slot 12 ms late)', () => {
    const { clock, log } = withPrepare('# schedd: name=a\n* * * * * a\n', '2026-01-01T10:00:30Z', 12);
    clock.advance(90_000);
    assert.deepEqual(log, ['prepare a for 10:01:00.000 at 10:00:59.930', 'fire a 10:01:00.000 at 10:01:00.000', 'prepare a for 10:02:00.000 at 10:01:59.930', 'fire a 10:02:00.000 at 10:02:00.000']);
  });

  it('gives a slot shared by many jobs a longer lead, and yields between batches', () => {
    const lines = jobs('j', 100, '0 11 * * *').join('\n');
    const { clock, log } = withPrepare(`${lines}\n`, '2026-01-01T10:59:00Z');
    clock.advance(61_000);
    const prepares = log.filter((l) => l.startsWith('prepare'));
    const fires = log.filter((l) => l.startsWith('fire'));
    assert.equal(prepares.length, 100);
    assert.equal(fires.length, 100);
    assert.ok(fires.every((l) => l.endsWith('at 11:00:00.000')));
    assert.equal(prepares[0], 'prepare j99 for 11:00:00.000 at 10:59:57.950'); // 50 ms + 100 x 2 x 10 ms (the least cost leads are sized with) ahead
    assert.ok(log.indexOf(fires[0]!) > log.indexOf(prepares[99]!), 'all prepared before the first fires');
  });

  it('regression (issue 13): when prepares cost more than assumed (a busy machine), the leads are sized again from the measure', () => {
    // 4 jobs at 10:59:00 measure the cost (30 ms a prepare); 100 jobs at 11:00:00 then need 3 s of
    // preparing, and sized with the assumed 10 ms they would have begun only 2.05 s ahead.
    const first = jobs('c', 4, '0 59 10 * * *');
    const burst = jobs('b', 100, '0 0 11 * * *');
    const { clock, log } = withPrepare(`${[...first, ...burst].join('\n')}\n`, '2026-01-01T10:58:00Z', 30);
    clock.advance(3 * 60_000);
    assert.equal(log.filter((l) => l.startsWith('prepare b')).length, 100);
    assert.equal(log.filter((l) => l.startsWith('prepare c')).length, 4);
    assert.deepEqual([...new Set(log.filter((l) => l.startsWith('fire')).map((l) => l.slice(-28)))], ['10:59:00.000 at 10:59:00.000', '11:00:00.000 at 11:00:00.000']);
    assert.ok(log.indexOf('fire b0 11:00:00.000 at 11:00:00.000') > log.map((l) => l.startsWith('prepare b')).lastIndexOf(true), 'all prepared before the first fires');
  });

  it('regression (issue 13): prepares that are behind go earliest slot first, and none begins when a slot is nearer than what it costs', () => {
    // 300 jobs at 11:00:00 take 4.5 s to prepare; 10 jobs at 10:59:58 come in the middle of it.
    const late = jobs('l', 300, '0 0 11 * * *');
    const early = jobs('e', 10, '58 59 10 * * *');
    const { clock, log } = withPrepare(`${[...late, ...early].join('\n')}\n`, '2026-01-01T10:58:00Z', 15);
    clock.advance(3 * 60_000);
    const earlyFires = log.filter((l) => l.startsWith('fire e'));
    assert.equal(earlyFires.length, 10);
    // All ten were prepared before their slot, and no prepare of the others was under way when it came.
    assert.ok(earlyFires.every((l) => l.endsWith('at 10:59:58.000')), earlyFires.join('; '));
    assert.ok(log.map((l) => l.startsWith('prepare e')).lastIndexOf(true) < log.indexOf(earlyFires[0]!));
    assert.equal(log.filter((l) => l.startsWith('prepare')).length, 310);
    assert.ok(log.filter((l) => l.startsWith('fire l')).every((l) => l.endsWith('at 11:00:00.000')));
  });

  it('regression (issue 13): after a burst fires, prepares for a later slot wait while its processes start (0.5 ms a job), then go on in time', () => {
    // 100 jobs at 11:00:00; 600 at 11:00:08, whose 9 s of preparing (15 ms each) is under way then.
    const burst = jobs('b', 100, '0 0 11 * * *');
    const next = jobs('n', 600, '8 0 11 * * *');
    const { clock, log } = withPrepare(`${[...burst, ...next].join('\n')}\n`, '2026-01-01T10:58:00Z', 15);
    clock.advance(3 * 60_000);
    const at = (l: string) => l.slice(-12);
    const lastBurstFire = log.map((l) => l.startsWith('fire b')).lastIndexOf(true);
    const after = log.slice(lastBurstFire + 1).filter((l) => l.startsWith('prepare n'));
    assert.ok(after.length > 0 && at(after[0]!) >= '11:00:00.050', `first prepare after the burst: ${after[0]}`);
    assert.ok(log.slice(0, lastBurstFire).some((l) => l.startsWith('prepare n')), 'they were under way before it');
    assert.equal(log.filter((l) => l.startsWith('prepare n')).length, 600);
    assert.ok(log.filter((l) => l.startsWith('fire')).every((l) => l.endsWith(l.startsWith('fire b') ? 'at 11:00:00.000' : 'at 11:00:08.000')));
  });

  it('regression (issue 13): a slot that comes while prepares are quiet after a burst fires on time', () => {
    // Firing the 1000 takes 0.7 s, so prepares are quiet until 11:00:01.200; x is due at 11:00:01,
    // and 600 jobs at 11:00:08 are still being prepared (nothing may sleep through x's slot).
    const burst = jobs('b', 1000, '0 0 11 * * *');
    const next = jobs('n', 600, '8 0 11 * * *');
    const { clock, log } = withPrepare(`${[...burst, ...next, '# schedd: name=x\n1 0 11 * * * x'].join('\n')}\n`, '2026-01-01T10:58:00Z', 15, 0.7);
    clock.advance(3 * 60_000);
    assert.deepEqual(log.filter((l) => l.startsWith('fire x')), ['fire x 11:00:01.000 at 11:00:01.000']);
    assert.ok(log.indexOf(log.find((l) => l.startsWith('prepare x'))!) < log.indexOf('fire x 11:00:01.000 at 11:00:01.000'));
  });

  it('takes back a prepared slot when a reload retimes or removes the job', () => {
    const { clock, scheduler, log } = withPrepare('# schedd: name=a\n* * * * * a\n# schedd: name=b\n* * * * * b\n', '2026-01-01T10:00:59.960Z');
    clock.advance(10);
    scheduler.update(parseCrontab('# schedd: name=a\n*/5 * * * * a\n').entries);
    assert.deepEqual(log.filter((l) => !l.startsWith('prepare')), ['unprepare a at 10:00:59.970', 'unprepare b at 10:00:59.970']);
  });
});
