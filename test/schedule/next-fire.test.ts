import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSchedule } from '../../src/crontab/schedule-expr.js';
import { nextFires } from '../../src/schedule/next-fire.js';
import { formatInstant } from '../../src/schedule/zone.js';

function fires(expression: string, zone: string, fromIso: string, count: number): string[] {
  const { expr } = parseSchedule(expression);
  assert.ok(expr, `'${expression}' should parse`);
  return nextFires(expr, zone, Date.parse(fromIso), count).map((f) => `${formatInstant(f.at, zone)}${f.shifted ? ' gap' : ''}`);
}

describe('next fire times across DST (Vixie rules)', () => {
  describe('America/New_York', () => {
    it('spring forward: a fixed-time slot in the gap fires once, at the end of the gap', () => {
      assert.deepEqual(fires('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 3), [
        '2026-03-08T03:00:00-04:00 gap',
        '2026-03-09T02:30:00-04:00',
        '2026-03-10T02:30:00-04:00',
      ]);
    });
    it('spring forward: several fixed-time slots in the gap still fire once', () => {
      assert.deepEqual(fires('0,15,30,45 2 * * *', 'America/New_York', '2026-03-08T06:00:00Z', 2), [
        '2026-03-08T03:00:00-04:00 gap',
        '2026-03-09T02:00:00-04:00',
      ]);
    });
    it('spring forward: a wildcard job has no slots in the gap', () => {
      assert.deepEqual(fires('*/30 * * * *', 'America/New_York', '2026-03-08T05:00:00Z', 4), [
        '2026-03-08T00:30:00-05:00',
        '2026-03-08T01:00:00-05:00',
        '2026-03-08T01:30:00-05:00',
        '2026-03-08T03:00:00-04:00',
      ]);
    });
    it('fall back: a fixed-time job fires in the first pass only', () => {
      assert.deepEqual(fires('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 3), [
        '2026-11-01T01:30:00-04:00',
        '2026-11-02T01:30:00-05:00',
        '2026-11-03T01:30:00-05:00',
      ]);
    });
    it('fall back: a fixed-time job asked during the second pass does not repeat', () => {
      assert.deepEqual(fires('30 1 * * *', 'America/New_York', '2026-11-01T06:10:00Z', 1), ['2026-11-02T01:30:00-05:00']);
    });
    it('fall back: a wildcard job fires in both passes', () => {
      assert.deepEqual(fires('*/30 1 * * *', 'America/New_York', '2026-11-01T04:00:00Z', 5), [
        '2026-11-01T01:00:00-04:00',
        '2026-11-01T01:30:00-04:00',
        '2026-11-01T01:00:00-05:00',
        '2026-11-01T01:30:00-05:00',
        '2026-11-02T01:00:00-05:00',
      ]);
      assert.deepEqual(fires('@hourly', 'America/New_York', '2026-11-01T04:30:00Z', 3), [
        '2026-11-01T01:00:00-04:00',
        '2026-11-01T01:00:00-05:00',
        '2026-11-01T02:00:00-05:00',
      ]);
    });
  });

  describe('Europe/London', () => {
    it('spring forward (01:00 -> 02:00)', () => {
      assert.deepEqual(fires('30 1 * * *', 'Europe/London', '2026-03-28T12:00:00Z', 2), ['2026-03-29T02:00:00+01:00 gap', '2026-03-30T01:30:00+01:00']);
      assert.deepEqual(fires('30 * * * *', 'Europe/London', '2026-03-29T00:00:00Z', 2), ['2026-03-29T00:30:00+00:00', '2026-03-29T02:30:00+01:00']);
    });
    it('fall back (02:00 -> 01:00)', () => {
      assert.deepEqual(fires('15 1 * * *', 'Europe/London', '2026-10-24T12:00:00Z', 2), ['2026-10-25T01:15:00+01:00', '2026-10-26T01:15:00+00:00']);
      assert.deepEqual(fires('15 * * * *', 'Europe/London', '2026-10-24T23:30:00Z', 3), [
        '2026-10-25T01:15:00+01:00',
        '2026-10-25T01:15:00+00:00',
        '2026-10-25T02:15:00+00:00',
      ]);
    });
  });

  describe('Australia/Lord_Howe (a 30-minute shift)', () => {
    it('spring forward (02:00 -> 02:30)', () => {
      assert.deepEqual(fires('0 2 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00:00Z', 2), ['2026-10-04T02:30:00+11:00 gap', '2026-10-05T02:00:00+11:00']);
      assert.deepEqual(fires('*/20 2 * * *', 'Australia/Lord_Howe', '2026-10-03T14:00:00Z', 3), [
        '2026-10-04T02:40:00+11:00',
        '2026-10-05T02:00:00+11:00',
        '2026-10-05T02:20:00+11:00',
      ]);
    });
    it('fall back (02:00 -> 01:30)', () => {
      assert.deepEqual(fires('45 1 * * *', 'Australia/Lord_Howe', '2026-04-04T00:00:00Z', 2), ['2026-04-05T01:45:00+11:00', '2026-04-06T01:45:00+10:30']);
      assert.deepEqual(fires('*/15 1 * * *', 'Australia/Lord_Howe', '2026-04-04T12:00:00Z', 7), [
        '2026-04-05T01:00:00+11:00',
        '2026-04-05T01:15:00+11:00',
        '2026-04-05T01:30:00+11:00',
        '2026-04-05T01:45:00+11:00',
        '2026-04-05T01:30:00+10:30',
        '2026-04-05T01:45:00+10:30',
        '2026-04-06T01:00:00+10:30',
      ]);
    });
  });
});

describe('next fire times', () => {
  it("applies Vixie's day rule to '*/2' with a weekday: Sundays on odd dates", () => {
    assert.deepEqual(fires('0 0 */2 * sun', 'UTC', '2026-01-01T00:00:00Z', 4), [
      '2026-01-11T00:00:00+00:00',
      '2026-01-25T00:00:00+00:00',
      '2026-02-01T00:00:00+00:00',
      '2026-02-15T00:00:00+00:00',
    ]);
  });
  it('fires on either day field when both are restricted', () => {
    assert.deepEqual(fires('0 0 13 * fri', 'UTC', '2026-02-01T00:00:00Z', 4), [
      '2026-02-06T00:00:00+00:00',
      '2026-02-13T00:00:00+00:00',
      '2026-02-20T00:00:00+00:00',
      '2026-02-27T00:00:00+00:00',
    ]);
  });
  it('finds leap days and returns nothing for dates that never occur', () => {
    assert.deepEqual(fires('0 0 29 2 *', 'Europe/London', '2026-01-01T00:00:00Z', 2), ['2028-02-29T00:00:00+00:00', '2032-02-29T00:00:00+00:00']);
    assert.deepEqual(fires('0 0 30 2 *', 'UTC', '2026-01-01T00:00:00Z', 1), []);
  });
  it('is strictly after the given instant, with seconds', () => {
    assert.deepEqual(fires('*/20 * * * * *', 'UTC', '2026-01-01T00:00:20Z', 2), ['2026-01-01T00:00:40+00:00', '2026-01-01T00:01:00+00:00']);
    assert.deepEqual(fires('* * * * *', 'UTC', '2026-01-01T00:00:59.999Z', 1), ['2026-01-01T00:01:00+00:00']);
  });
  it('has no times for @reboot', () => {
    assert.deepEqual(fires('@reboot', 'UTC', '2026-01-01T00:00:00Z', 1), []);
  });
});
