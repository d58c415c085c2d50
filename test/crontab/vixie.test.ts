import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { parseCrontab } from '../../src/crontab/parse.js';
import { parseField } from '../../src/crontab/field.js';
import { parseSchedule } from '../../src/crontab/schedule-expr.js';
import type { Diagnostic, FieldName } from '../../src/crontab/types.js';
import { formatDiagnostic } from '../../src/sources/crontab-file.js';
import { nextFires } from '../../src/schedule/next-fire.js';
import { formatInstant } from '../../src/schedule/zone.js';
import { runCli, tempDir } from '../helpers/cli.js';

/**
 * Issue 15: every line Debian's cron (3.0pl1-162, entry.c) accepts is accepted, and matches
 * what cron matches. The expectations were checked against cron's own load_entry, compiled from
 * the Debian source, on tens of thousands of generated lines.
 */

function diagnostics(text: string, options: { system?: boolean; vixie?: boolean } = {}): string[] {
  return parseCrontab(text, options).diagnostics.map((d) => formatDiagnostic('crontab', d));
}

function fires(expression: string, fromIso: string, count: number, zone = 'Europe/Paris'): string[] {
  const { expr } = parseSchedule(expression);
  assert.ok(expr, `'${expression}' should parse`);
  return nextFires(expr, zone, Date.parse(fromIso), count).map((f) => formatInstant(f.at, zone));
}

describe('reversed ranges (cron accepts them and matches nothing)', () => {
  it('regression (issue 15): 0 23-1 * * * is accepted with a warning naming the wrapped form, and never fires', () => {
    const parsed = parseCrontab('0 23-1 * * * x\n');
    assert.deepEqual(
      parsed.diagnostics.map((d) => formatDiagnostic('crontab', d)),
      [
        "crontab:1:1: warning: this entry never fires: cron matches nothing in the hour field '23-1'",
        "crontab:1:3: warning: hour range '23-1' runs backwards, which cron accepts but never fires on (it matches nothing); for a range that wraps around, write '23,0,1'",
      ],
    );
    assert.equal(parsed.entries.length, 1);
    assert.equal(parsed.entries[0]!.schedule.never, true);
    assert.deepEqual(fires('0 23-1 * * *', '2026-01-01T00:00:00Z', 3), []);
  });

  it('regression (issue 15): 0 0 * * fri-mon never fires: a day field starting with * makes it dom AND dow', () => {
    assert.deepEqual(diagnostics('0 0 * * fri-mon x\n'), [
      "crontab:1:1: warning: this entry never fires: cron matches no day in 'fri-mon', and with a day field starting with '*' a day must match both",
      "crontab:1:9: warning: day-of-week range 'fri-mon' runs backwards, which cron accepts but never fires on (it matches nothing); for a range that wraps around, write 'fri,sat,sun,mon'",
    ]);
    assert.deepEqual(fires('0 0 * * fri-mon', '2026-01-01T00:00:00Z', 3), []);
  });

  it('regression (issue 15): 0 0 1 * fri-mon fires on the 1st only: both day fields restricted is dom OR dow', () => {
    assert.deepEqual(diagnostics('0 0 1 * fri-mon x\n'), [
      "crontab:1:9: warning: day-of-week range 'fri-mon' runs backwards, which cron accepts but never fires on (it matches nothing); for a range that wraps around, write 'fri,sat,sun,mon'",
    ]);
    // 2026-01-02 is a Friday: it is not a slot, as under cron.
    assert.deepEqual(fires('0 0 1 * fri-mon', '2025-12-31T12:00:00Z', 3), ['2026-01-01T00:00:00+01:00', '2026-02-01T00:00:00+01:00', '2026-03-01T00:00:00+01:00']);
  });

  it('a reversed day-of-month with a restricted day-of-week leaves the weekday alone (OR)', () => {
    assert.deepEqual(fires('0 12 31-1 * mon', '2026-03-01T00:00:00Z', 3), ['2026-03-02T12:00:00+01:00', '2026-03-09T12:00:00+01:00', '2026-03-16T12:00:00+01:00']);
  });

  it("a croner extension with a reversed other day field still goes through croner's check (L OR nothing = L)", () => {
    assert.deepEqual(fires('0 0 L * fri-mon', '2026-01-15T00:00:00Z', 2, 'UTC'), ['2026-01-31T00:00:00+00:00', '2026-02-28T00:00:00+00:00']);
  });

  it('a reversed element in a list drops only itself', () => {
    assert.deepEqual(fires('0 5-1,3 * * *', '2026-06-01T00:00:00Z', 2, 'UTC'), ['2026-06-01T03:00:00+00:00', '2026-06-02T03:00:00+00:00']);
  });

  const wrapped: [string, FieldName, string][] = [
    ['23-1', 'hour', '23,0,1'],
    ['22-6', 'hour', '22,23,0-6'],
    ['22-2/2', 'hour', '22,0,2'],
    ['50-10/5', 'minute', '50,55,0,5,10'],
    ['fri-mon', 'day-of-week', 'fri,sat,sun,mon'],
    ['5-1', 'day-of-week', '5,6,0,1'],
    ['mon-sun', 'day-of-week', 'mon-sat,sun'],
    ['sat-sun', 'day-of-week', 'sat,sun'],
    ['7-1', 'day-of-week', '0,1'],
    ['nov-feb', 'month', 'nov,dec,jan,feb'],
    ['30-2', 'day-of-month', '30,31,1,2'],
  ];
  for (const [text, name, meant] of wrapped) {
    it(`names the wrapped form of ${name} '${text}': '${meant}'`, () => {
      const found: Diagnostic[] = [];
      const field = parseField(text, name, 1, found, 1);
      assert.deepEqual(field?.values, []);
      assert.equal(found.length, 1);
      assert.ok(found[0]!.message.endsWith(`write '${meant}'`), found[0]!.message);
    });
  }

  it('property: the wrapped form parses cleanly to low..end then start..high, and the range itself to nothing', () => {
    const fields: [FieldName, number, number][] = [['minute', 0, 59], ['hour', 0, 23], ['day-of-month', 1, 31], ['month', 1, 12], ['day-of-week', 0, 6]];
    const arb = fc.constantFrom(...fields).chain(([name, min, max]) =>
      fc.tuple(fc.constant(name), fc.integer({ min: min + 1, max }), fc.integer({ min, max: max - 1 }), fc.integer({ min: 1, max: 30 }), fc.constant(min), fc.constant(max)),
    );
    fc.assert(
      fc.property(arb, ([name, low, highBelow, step, min, max]) => {
        const high = Math.min(highBelow, low - 1);
        const text = step === 1 ? `${low}-${high}` : `${low}-${high}/${step}`;
        const found: Diagnostic[] = [];
        assert.deepEqual(parseField(text, name, 1, found, 1)?.values, []);
        const meant = /write '([^']+)'$/.exec(found.find((d) => d.message.includes('runs backwards'))!.message)![1]!;
        const size = max - min + 1;
        const expected = new Set<number>();
        for (let offset = 0; offset <= high - low + size; offset += step) expected.add(min + ((low - min + offset) % size));
        const clean: Diagnostic[] = [];
        const parsed = parseField(meant, name, 1, clean, 1);
        assert.deepEqual(clean, []);
        assert.deepEqual(parsed?.values, [...expected].sort((a, b) => a - b));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('other lines Debian cron accepts', () => {
  const accepted: [string, string, string[]][] = [
    // [line, croner pattern, diagnostics]
    ['09,39 * * * * x\n', '0 9,39 * * * *', []],
    ['007 0 * * * x\n', '0 7 0 * * *', []],
    ['0 0 * JAN MON x\n', '0 0 0 * 1 1', []],
    ['0 0 * * 7 x\n', '0 0 0 * * 0', []],
    ['0 0 * * 5-7 x\n', '0 0 0 * * 0,5,6', []],
    ['*/100 * * * * x\n', '0 0 * * * *', ["crontab:1:3: warning: minute step 100 is larger than the range: only 0 matches"]],
    ['0\t0\t*\t*\t*\tx\n', '0 0 0 * * *', []],
    ['  0  0 *  *  * x\n', '0 0 0 * * *', []],
    ['5. * * * * x\n', '0 5 * * * *', ["crontab:1:2: warning: cron reads '5.' as '5': it ignores '.', up to the next blank"]],
    ['*x * * * * x\n', '0 * * * * *', ["crontab:1:2: warning: cron reads '*x' as '*': it ignores 'x', up to the next blank"]],
    ['1-5/2-3 * * * * x\n', '0 1,3,5 * * * *', ["crontab:1:6: warning: cron reads '1-5/2-3' as '1-5/2': it ignores '-3', up to the next blank"]],
    ['*-5 * * * * x\n', '0 * * * * *', ["crontab:1:2: warning: cron reads '*-5' as '*': it ignores '-5', up to the next blank"]],
    // A no-break space is no blank to cron: it ends the field, whose rest is skipped.
    ['0 0 * * 1\u00a0x y\n', '0 0 0 * * 1', ["crontab:1:10: warning: cron reads '1\u00a0x' as '1': it ignores '\u00a0x', up to the next blank"]],
  ];
  for (const [line, pattern, expected] of accepted) {
    it(JSON.stringify(line), () => {
      const parsed = parseCrontab(line);
      assert.deepEqual(parsed.diagnostics.map((d) => formatDiagnostic('crontab', d)), expected);
      assert.equal(parsed.entries.length, 1);
      assert.equal(parsed.entries[0]!.schedule.pattern, pattern);
    });
  }

  it('still refuses what cron refuses: a word that is not all digits, a step after one value, an empty element', () => {
    assert.deepEqual(diagnostics('5x 1/5 1,,2 * * x\n'), [
      "crontab:1:1: invalid minute '5x' (expected 0-59)",
      "crontab:1:5: invalid hour: a step needs a range or '*' before it (expected '*/N' or 'low-high/N')",
      'crontab:1:10: empty element in day-of-month list (expected a value between commas)',
    ]);
    assert.deepEqual(diagnostics('*/5x * * * * x\n0 0 * * monday x\n'), [
      "crontab:1:3: invalid minute step: '5x' (expected a whole number of 1 or more)",
      "crontab:2:9: invalid day-of-week name 'monday' (expected 0-7 or a name sun-sat)",
    ]);
  });

  it('a schedule with no command (cron runs an empty command) is a warning, and no job', () => {
    for (const [text, col] of [['* * * * *\n', 10], ['@daily\n', 7], ['0 0 * * *   \n', 10]] as const) {
      const parsed = parseCrontab(text);
      assert.deepEqual(parsed.diagnostics.map((d) => formatDiagnostic('crontab', d)), [`crontab:1:${col}: warning: no command: cron runs nothing here, and schedd skips the line`]);
      assert.deepEqual(parsed.entries, []);
    }
    const input = parseCrontab('* * * * * %input\n');
    assert.deepEqual(input.diagnostics.map((d) => formatDiagnostic('crontab', d)), ['crontab:1:11: warning: empty command before %: cron runs nothing here, and schedd skips the line']);
    assert.deepEqual(input.entries, []);
  });

  it('system format: a user with a blank after it and no command is a warning; without the blank, cron errs too', () => {
    assert.deepEqual(diagnostics('0 4 * * * root \n', { system: true }), ['crontab:1:15: warning: no command: cron runs nothing here, and schedd skips the line']);
    assert.deepEqual(diagnostics('0 4 * * * 1000 \n', { system: true }), [
      "crontab:1:15: missing command after user '1000' (expected 'minute hour day-of-month month day-of-week user command' or '@macro user command')",
    ]);
    assert.deepEqual(diagnostics('0 4 * * * root\n', { system: true }), [
      "crontab:1:15: missing command after user 'root' (expected 'minute hour day-of-month month day-of-week user command' or '@macro user command')",
    ]);
  });

  it('system format: @nicknames take the user column; user names as Debian makes them', () => {
    const parsed = parseCrontab('@daily root run-parts /etc/cron.daily\n@reboot 1password-agent sync\n0 0 * * * _apt x\n', { system: true });
    assert.deepEqual(parsed.diagnostics, []);
    assert.deepEqual(parsed.entries.map((e) => [e.schedule.text, e.user, e.command]), [
      ['@daily', 'root', 'run-parts /etc/cron.daily'],
      ['@reboot', '1password-agent', 'sync'],
      ['0 0 * * *', '_apt', 'x'],
    ]);
    assert.deepEqual(diagnostics('0 0 * * * 1000 x\n0 0 * * * 5-7 x\n', { system: true }).map((d) => d.split(' (expected')[0]), [
      "crontab:1:11: invalid user name '1000'",
      "crontab:2:11: invalid user name '5-7'",
    ]);
  });
});

describe('a system table read as a user crontab', () => {
  it('warns once, at the user column, naming --system and --cron', () => {
    assert.deepEqual(diagnostics('17 * * * * root cd / && run-parts --report /etc/cron.hourly\n25 6 * * * root run-parts /etc/cron.daily\n'), [
      "crontab:1:12: warning: 'root' looks like the user column of a system table (/etc/crontab, /etc/cron.d): read it with --system, or the machine's tables with --cron; as it is, 'root' is the command",
    ]);
    assert.deepEqual(diagnostics('17 * * * * root cd / && run-parts --report /etc/cron.hourly\n', { system: true }), []);
  });
});

describe('vixie mode (the tables of --cron): exactly cron format', () => {
  it('a sixth field is the user, not seconds: a user named like a weekday', () => {
    const parsed = parseCrontab('*/5 * * * * mon /usr/lib/mon/check --all\n', { system: true, vixie: true });
    assert.deepEqual(parsed.diagnostics, []);
    assert.deepEqual(parsed.entries.map((e) => [e.schedule.pattern, e.user, e.command]), [['0 0,5,10,15,20,25,30,35,40,45,50,55 * * * *', 'mon', '/usr/lib/mon/check --all']]);
    // Without vixie the same line reads a seconds field, and the program as the user.
    assert.deepEqual(diagnostics('*/5 * * * * mon /usr/lib/mon/check --all\n', { system: true }).map((d) => d.split(' (expected')[0]), [
      "crontab:1:1: warning: 6 schedule fields, read as 'second minute hour day-of-month month day-of-week' (seconds '*/5'); plain cron reads 'mon' as the start of the command",
      "crontab:1:17: invalid user name '/usr/lib/mon/check'",
    ]);
  });

  it('fri#2 is every Friday, the rest ignored, as cron reads it; L is an error', () => {
    const parsed = parseCrontab('0 0 * * fri#2 x\n', { vixie: true });
    assert.deepEqual(parsed.diagnostics.map((d) => formatDiagnostic('crontab', d)), ["crontab:1:12: warning: cron reads 'fri#2' as 'fri': it ignores '#2', up to the next blank"]);
    assert.equal(parsed.entries[0]!.schedule.pattern, '0 0 0 * * 5');
    assert.deepEqual(diagnostics('0 0 L * * x\n', { vixie: true }), ["crontab:1:5: invalid day-of-month 'L' (expected 1-31)"]);
  });

  it('CRON_TZ is an ordinary variable, as in Debian cron (no zone, no error for an unknown one); tz= still schedules', () => {
    const parsed = parseCrontab('CRON_TZ=Mars/Olympus\n0 9 * * * x\n# schedd: tz=Asia/Tokyo\n0 9 * * * y\n', { vixie: true });
    assert.deepEqual(parsed.diagnostics.map((d) => formatDiagnostic('crontab', d)), [
      "crontab:1:1: warning: Debian's cron does not schedule by CRON_TZ: these jobs fire in the system's time zone, and CRON_TZ is only passed to them (write '# schedd: tz=ZONE' above an entry to schedule it in a zone)",
    ]);
    assert.deepEqual(parsed.entries.map((e) => [e.zone, e.env.CRON_TZ]), [[undefined, 'Mars/Olympus'], ['Asia/Tokyo', 'Mars/Olympus']]);
    // schedd's own format keeps CRON_TZ as a zone.
    assert.equal(parseCrontab('CRON_TZ=Asia/Tokyo\n0 9 * * * x\n').entries[0]!.zone, 'Asia/Tokyo');
  });

  it("a user table's command may not start with '*' (cron's e_cmd); a sixth field of '*...' is schedd's seconds, which no table cron runs can mean", () => {
    assert.deepEqual(diagnostics('*/30 * * * * * x\n', { vixie: true }), [
      "crontab:1:1: warning: 6 schedule fields, read as 'second minute hour day-of-month month day-of-week' (seconds '*/30'); plain cron reads '*' as the start of the command",
    ]);
    assert.deepEqual(diagnostics('*/30 * * * * *x\n', { vixie: true }), [
      "crontab:1:14: command starts with '*': cron rejects it (a sixth schedule field? cron's format has five) (expected a command after 5 fields)",
    ]);
    // Debian's own line: `mon` is the user, not a day of the week.
    assert.deepEqual(diagnostics('*/5 * * * * mon /usr/lib/mon/check --all\n', { vixie: true, system: true }), []);
  });
});

describe('schedd check on a reversed range', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());
  it('prints the warnings with file:line:col and exits 0', async () => {
    const path = tmp.write('night', 'TZ=UTC\n0 23-1 * * * /usr/local/bin/nightly\n0 0 1 * fri-mon /usr/local/bin/monthly\n');
    const result = await runCli(['check', path], { cwd: tmp.dir });
    assert.deepEqual(result, {
      code: 0,
      signal: null,
      stdout: `${path}: ok, 2 jobs (3 warnings)\n`,
      stderr:
        `${path}:2:1: warning: this entry never fires: cron matches nothing in the hour field '23-1'\n` +
        `${path}:2:3: warning: hour range '23-1' runs backwards, which cron accepts but never fires on (it matches nothing); for a range that wraps around, write '23,0,1'\n` +
        `${path}:3:9: warning: day-of-week range 'fri-mon' runs backwards, which cron accepts but never fires on (it matches nothing); for a range that wraps around, write 'fri,sat,sun,mon'\n`,
    });
  });

  it('schedd next says a never-firing schedule never fires, and exits 0', async () => {
    const result = await runCli(['next', '0 23-1 * * *', '--tz', 'UTC'], { cwd: tmp.dir });
    assert.equal(result.code, 0);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /'0 23-1 \* \* \*' never fires\n$/);
  });
});
