import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDiagnostic } from '../../src/sources/crontab-file.js';
import { parseCrontab } from '../../src/crontab/parse.js';

function errors(text: string, system = false): string[] {
  return parseCrontab(text, { system }).diagnostics.map((d) => formatDiagnostic('crontab', d));
}

function only(text: string, system = false) {
  const parsed = parseCrontab(text, { system });
  assert.deepEqual(parsed.diagnostics.filter((d) => d.severity === 'error'), []);
  assert.equal(parsed.entries.length, 1);
  return parsed.entries[0]!;
}

describe('schedule fields', () => {
  const cases: [string, string][] = [
    ['* * * * * x', '0 * * * * *'],
    ['*/15 * * * * x', '0 0,15,30,45 * * * *'],
    ['1-30/10 * * * * x', '0 1,11,21 * * * *'],
    ['0 9-17/4 * * * x', '0 0 9,13,17 * * *'],
    ['0 0 1 jan,JUL * x', '0 0 0 1 1,7 *'],
    ['0 0 * feb-Apr * x', '0 0 0 * 2,3,4 *'],
    ['0 0 * * mon-fri x', '0 0 0 * * 1,2,3,4,5'],
    ['0 0 * * 7 x', '0 0 0 * * 0'],
    ['0 0 * * 5-7 x', '0 0 0 * * 0,5,6'],
    ['0 0 * * sun,0,7 x', '0 0 0 * * 0'],
    ['0 0 1-31 * mon x', '0 0 0 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31 * 1'],
    ['*,5 * * * * x', '0 * * * * *'],
    ['0-59/60 * * * * x', '0 0 * * * *'],
    ['@hourly x', '0 0 * * * *'],
    ['@daily x', '0 0 0 * * *'],
    ['@midnight x', '0 0 0 * * *'],
    ['@weekly x', '0 0 0 * * 0'],
    ['@monthly x', '0 0 0 1 * *'],
    ['@yearly x', '0 0 0 1 1 *'],
    ['@annually x', '0 0 0 1 1 *'],
    ['*/10 * * * * * x', '0,10,20,30,40,50 * * * * *'],
  ];
  for (const [line, pattern] of cases) {
    it(`${line} -> ${pattern}`, () => assert.equal(only(`${line}\n`).schedule.pattern, pattern));
  }

  it("applies Vixie's day rule: a day field starting with '*' means both must match", () => {
    assert.equal(only('0 0 */2 * sun x\n').schedule.domAndDow, true);
    assert.equal(only('0 0 * * sun x\n').schedule.domAndDow, true);
    assert.equal(only('0 0 1,15 * sun x\n').schedule.domAndDow, false);
  });

  it("classifies DST behaviour by the minute and hour fields' first character", () => {
    assert.equal(only('30 2 * * * x\n').schedule.fixedTime, true);
    assert.equal(only('0-59/5 2 * * * x\n').schedule.fixedTime, true);
    assert.equal(only('*/5 2 * * * x\n').schedule.fixedTime, false);
    assert.equal(only('0 * * * * x\n').schedule.fixedTime, false);
    assert.equal(only('@hourly x\n').schedule.fixedTime, false);
    assert.equal(only('@daily x\n').schedule.fixedTime, true);
  });

  it('reads @reboot itself (croner rejects it)', () => {
    const entry = only('@reboot /usr/bin/warm-cache\n');
    assert.equal(entry.schedule.kind, 'reboot');
    assert.equal(entry.command, '/usr/bin/warm-cache');
  });
});

describe('commands, input and environment', () => {
  it("splits '%' into command and standard input", () => {
    const entry = only('* * * * * mail -s "hi\\%" root%Dear root,%%all is well\\%.\n');
    assert.equal(entry.command, 'mail -s "hi%" root');
    assert.equal(entry.stdin, 'Dear root,\n\nall is well%.\n');
  });

  it("keeps a '#' after a command as part of the command, and other backslashes as written", () => {
    assert.equal(only('* * * * * echo a # not a comment \\n\n').command, 'echo a # not a comment \\n');
  });

  it('gives each entry the environment lines above it, in order', () => {
    const parsed = parseCrontab('A=1\n* * * * * one\n B = "two words" \nC=\'\'\nA=3\n* * * * * two\n');
    assert.deepEqual(parsed.entries.map((e) => e.env), [{ A: '1' }, { A: '3', B: 'two words', C: '' }]);
  });

  it('does not expand $VAR in values', () => {
    assert.deepEqual(only('P=$HOME/bin\n* * * * * x\n').env, { P: '$HOME/bin' });
  });

  it('sets the zone from CRON_TZ for the entries below it, and the tz option wins', () => {
    const parsed = parseCrontab('* * * * * a\nCRON_TZ=Europe/London\n* * * * * b\n# schedd: tz=Asia/Tokyo\n* * * * * c\n');
    assert.deepEqual(parsed.entries.map((e) => e.zone), [undefined, 'Europe/London', 'Asia/Tokyo']);
  });

  it('reads the user column in the system format', () => {
    const entry = only('*/5 * * * * www-data php /srv/app/artisan schedule:run\n', true);
    assert.equal(entry.user, 'www-data');
    assert.equal(entry.command, 'php /srv/app/artisan schedule:run');
  });

  it('reads a leading seconds field and says how it split the line', () => {
    const parsed = parseCrontab('*/30 * * * * * /bin/tick\n');
    assert.equal(parsed.entries[0]!.command, '/bin/tick');
    assert.equal(parsed.entries[0]!.schedule.hasSeconds, true);
    assert.deepEqual(errors('*/30 * * * * * /bin/tick\n'), [
      "crontab:1:1: warning: 6 schedule fields, read as 'second minute hour day-of-month month day-of-week' (seconds '*/30'); plain cron reads '*' as the start of the command",
    ]);
  });

  it('does not take a command word for a sixth field', () => {
    const entry = only('*/5 * * * * echo 5\n');
    assert.equal(entry.schedule.hasSeconds, false);
    assert.equal(entry.command, 'echo 5');
  });
});

describe('schedd options', () => {
  it('accumulates option lines directly above an entry', () => {
    const entry = only('# schedd: name=backup timeout=30m\n# a plain comment\n# schedd: overlap=queue jitter=90s retries=3 catchup=once\n# schedd: tz=Europe/Paris cwd="/srv/my app" user=deploy\n0 2 * * * backup\n');
    assert.deepEqual(entry.options, {
      name: 'backup',
      timeoutMs: 1_800_000,
      overlap: 'queue',
      jitterMs: 90_000,
      retries: 3,
      catchup: 'once',
      tz: 'Europe/Paris',
      cwd: '/srv/my app',
      user: 'deploy',
    });
    assert.equal(entry.id, 'backup');
  });

  it('derives a stable id from the command, numbering identical entries', () => {
    const first = parseCrontab('* * * * * /usr/local/bin/rotate-logs.sh\n*/5 * * * * /usr/local/bin/rotate-logs.sh\n');
    const second = parseCrontab('# moved down\nX=1\n0 3 * * * /usr/local/bin/rotate-logs.sh\n* * * * * /usr/local/bin/rotate-logs.sh\n');
    const ids = first.entries.map((e) => e.id);
    assert.match(ids[0]!, /^rotate-logs-[0-9a-f]{8}$/);
    assert.equal(ids[1], `${ids[0]}-2`);
    assert.deepEqual(second.entries.map((e) => e.id), ids);
  });
});

describe('diagnostics', () => {
  const failures: [string, string[]][] = [
    ['61 * * * * x\n', ["crontab:1:1: invalid minute '61' (expected 0-59)"]],
    ['0 24 * * * x\n', ["crontab:1:3: invalid hour '24' (expected 0-23)"]],
    ['0 0 0 * * x\n', ["crontab:1:5: invalid day-of-month '0' (expected 1-31)"]],
    ['0 0 * 13 * x\n', ["crontab:1:7: invalid month '13' (expected 1-12 or a name jan-dec)"]],
    ['0 0 * * 8 x\n', ["crontab:1:9: invalid day-of-week '8' (expected 0-7 or a name sun-sat)"]],
    ['0 0 * * 1,funday x\n', ["crontab:1:11: invalid day-of-week name 'funday' (expected 0-7 or a name sun-sat)"]],
    ['*/0 * * * * x\n', ["crontab:1:3: invalid minute step: '0' (expected a whole number of 1 or more)"]],
    ['5/15 * * * * x\n', ["crontab:1:2: invalid minute: a step needs a range or '*' before it (expected '*/N' or 'low-high/N')"]],
    ['1,,2 * * * * x\n', ['crontab:1:3: empty element in minute list (expected a value between commas)']],
    ['0 0 ? * * x\n', ["crontab:1:5: invalid day-of-month: unexpected '?' (expected 1-31)"]],
    ['* * *\n', ["crontab:1:6: incomplete entry: 3 of 5 schedule fields (expected 'minute hour day-of-month month day-of-week command' or '@macro command')"]],
    ['@Daily x\n', ["crontab:1:1: unknown macro '@Daily' (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @reboot)"]],
    ['CRON_TZ=Mars/Olympus\n', ["crontab:1:9: unknown time zone 'Mars/Olympus' (expected an IANA zone such as Europe/London)"]],
    [
      '# schedd: nmae=x timeout=soon retries=-1\n* * * * * x\n',
      [
        "crontab:1:11: unknown schedd option 'nmae' (expected name, timeout, jitter, overlap, catchup, retries, tz, cwd, user, mail, service, restart, restart-delay, restart-max-delay, stable, start-limit, retry-after, stop-signal, stop-timeout, reload-signal, watch, watch-action, instances)",
        "crontab:1:26: invalid timeout 'soon' (expected a duration such as 90s, 30m, 2h or 1d, more than 0)",
        "crontab:1:39: invalid retries '-1' (expected a whole number 0-100)",
      ],
    ],
    ['# schedd: overlap=maybe\n* * * * * x\n', ["crontab:1:19: invalid overlap 'maybe' (expected skip|allow|queue|replace)"]],
    ['# schedd: catchup=some\n* * * * * x\n', ["crontab:1:19: invalid catchup 'some' (expected none|once|all)"]],
    ['# schedd: name=a/b\n* * * * * x\n', ['crontab:1:16: invalid name \'a/b\' (expected letters, digits, ".", "_" or "-")']],
    ['# schedd: timeout=1m timeout=2m\n* * * * * x\n', ["crontab:1:22: option 'timeout' is already set for this entry on line 1"]],
    ['# schedd: name=a\n\n* * * * * x\n', ['crontab:1:1: schedd options are not directly above an entry (line 2 comes between) (expected the entry on the line below the options)']],
    ['# schedd: name=a\n', ['crontab:1:1: schedd options are not directly above an entry (line 2 comes between) (expected the entry on the line below the options)']],
    ['# schedd: name=a\n* * * * * x\n# schedd: name=a\n* * * * * y\n', ["crontab:4:1: job name 'a' is already used by the entry on line 2 (expected a name unique in the file)"]],
    ['* * * * * root\n', ["crontab:1:15: missing command after user 'root' (expected 'minute hour day-of-month month day-of-week user command' or '@macro user command')"]],
  ];
  // Lines that are fine in themselves keep their entries; the ones with errors never do.
  const survivors: Record<string, number> = { '# schedd: name=a\n\n* * * * * x\n': 1, '# schedd: name=a\n* * * * * x\n# schedd: name=a\n* * * * * y\n': 1 };
  for (const [text, expected] of failures) {
    it(JSON.stringify(text), () => {
      const system = text === '* * * * * root\n';
      assert.deepEqual(errors(text, system), expected);
      assert.equal(parseCrontab(text, { system }).entries.length, survivors[text] ?? 0);
    });
  }

  it('reports every problem in the file, not just the first', () => {
    assert.deepEqual(errors('61 * * * * a\n* * * * * ok\n0 25 * * * b\n0 0 * * 9 c\n'), [
      "crontab:1:1: invalid minute '61' (expected 0-59)",
      "crontab:3:3: invalid hour '25' (expected 0-23)",
      "crontab:4:9: invalid day-of-week '9' (expected 0-7 or a name sun-sat)",
    ]);
  });

  const warnings: [string, string][] = [
    ['0 0 30 2 * x\n', "crontab:1:5: warning: this entry never fires: day '30' does not occur in month '2'"],
    [
      '0 0 */2 * sun x\n',
      "crontab:1:5: warning: '*/2' starts with '*', so by cron's rule this entry fires only on days that match both '*/2' and 'sun' (croner and cron-parser would fire on either); write the day field without '*' to fire on either",
    ],
    ['* * * * * x', "crontab:1:12: warning: no newline at end of file: Debian's cron ignores the whole file, other crons this last line"],
    ['0 0 L * * x\n', "crontab:1:5: warning: 'L' uses croner's L/W/# extension, which plain cron rejects"],
    ['0 0 * * fri#2 x\n', "crontab:1:9: warning: 'fri#2' uses croner's L/W/# extension, which plain cron ignores: it fires on every fri ('#2' skipped)"],
    ['*/90 * * * * x\n', "crontab:1:3: warning: minute step 90 is larger than the range: only 0 matches"],
  ];
  for (const [text, expected] of warnings) {
    it(`warns: ${JSON.stringify(text)}`, () => {
      assert.deepEqual(errors(text), [expected]);
      assert.equal(parseCrontab(text).entries.length, 1);
    });
  }
});

describe('parseCrontab: caps (issue 11 item 14)', () => {
  it('regression (issue 11 item 14): a line over 64 KiB is one error with its length, not parsed; the options above it go with it', () => {
    const long = `0 0 1 1 * echo ${'é'.repeat(40_000)}`;
    const parsed = parseCrontab(`# schedd: name=big\n${long}\n0 0 1 1 * echo ok\n`);
    assert.deepEqual(parsed.diagnostics.map((d) => formatDiagnostic('crontab', d)), [`crontab:2:1: line is ${Buffer.byteLength(long)} bytes long (expected at most 65536)`]);
    assert.deepEqual(parsed.entries.map((e) => e.command), ['echo ok']);
  });

  it('regression (issue 11 item 14): past 10,000 diagnostics the rest are counted, not kept', () => {
    const parsed = parseCrontab('x\n'.repeat(10_005) + '0 0 1 1 * echo ok\n');
    assert.equal(parsed.diagnostics.length, 10_000);
    assert.deepEqual(parsed.omitted, { errors: 5, warnings: 0 });
    assert.equal(parsed.entries.length, 1);
    assert.equal(parseCrontab('x\n').omitted, undefined);
  });
});
