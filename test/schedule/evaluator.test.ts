import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cron } from 'croner';
import { parseSchedule } from '../../src/crontab/schedule-expr.js';
import { dropYearTable, nextWallSlot } from '../../src/schedule/evaluator.js';

describe('croner evaluator', () => {
  it("can still drop croner's year table (fails when a croner upgrade moves it: memory would grow 25x)", () => {
    const cron = new Cron('0 0 0 * * *', { utcOffset: 0, mode: '6-part' });
    assert.equal(dropYearTable(cron), true);
    assert.equal(cron.nextRun(new Date('2026-05-05T10:00:00Z'))?.toISOString(), '2026-05-06T00:00:00.000Z');
  });

  it('evaluates wall-clock slots strictly after the given wall time', () => {
    const { expr } = parseSchedule('30 2 * * *');
    assert.equal(new Date(nextWallSlot(expr!, Date.UTC(2026, 2, 8, 2, 29, 59, 500))!).toISOString(), '2026-03-08T02:30:00.000Z');
    assert.equal(new Date(nextWallSlot(expr!, Date.UTC(2026, 2, 8, 2, 30))!).toISOString(), '2026-03-09T02:30:00.000Z');
  });
});
