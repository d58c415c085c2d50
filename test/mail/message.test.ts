// The mail of a run as Debian's cron writes it (do_command.c), and what a crontab's author must
// not be able to do through it: add headers, or pass sendmail an option.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { body, cronEnv, headerValue, message, recipients, sender, type MailInput } from '../../src/mail/message.js';
import { parseCrontab } from '../../src/crontab/parse.js';
import { formatDiagnostic } from '../../src/sources/crontab-file.js';

const input = (over: Partial<MailInput> = {}): MailInput => ({
  user: 'alice',
  host: 'web1.example.org',
  command: 'backup --all',
  env: [
    ['MAILTO', 'ops,alice'],
    ['SHELL', '/bin/sh'],
  ],
  from: 'root (Cron Daemon)',
  to: 'ops,alice',
  job: 'backup',
  run: 'r1',
  outcome: 'ok',
  output: { head: 'done\n', tail: '', bytes: 5, truncated: false },
  ...over,
});

describe('mail: the message', () => {
  it("writes cron's headers in cron's order, X-Cron-Env per variable, then the output", () => {
    assert.equal(
      message(input()),
      [
        'From: root (Cron Daemon)',
        'To: ops,alice',
        'Subject: Cron <alice@web1> backup --all',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=UTF-8',
        'Content-Transfer-Encoding: 8bit',
        'Auto-Submitted: auto-generated',
        'Precedence: bulk',
        'X-Cron-Env: <MAILTO=ops,alice>',
        'X-Cron-Env: <SHELL=/bin/sh>',
        'X-Schedd-Job: backup',
        'X-Schedd-Run: r1',
        'X-Schedd-Outcome: ok',
        '',
        'done',
        '',
      ].join('\n'),
    );
  });

  it("takes the table's CONTENT_TYPE and CONTENT_TRANSFER_ENCODING as Debian's cron does", () => {
    const text = message(input({ env: [['CONTENT_TYPE', 'text/plain; charset=ISO-8859-1'], ['CONTENT_TRANSFER_ENCODING', 'quoted-printable']] }));
    assert.match(text, /^Content-Type: text\/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n/m);
  });

  it('no header value can start a header of its own: CR, LF and every other control character become spaces', () => {
    const text = message(
      input({
        command: 'echo hi\r\nBcc: victim@example.org\n\nfake body',
        env: [['CONTENT_TYPE', 'text/html\nBcc: x@example.org'], ['EVIL', 'a\rBcc: y@example.org\u0085\u2028z\u001b[2J']],
        user: 'al\nice',
      }),
    );
    const [headers] = text.split('\n\n');
    const lines = headers!.split('\n');
    assert.deepEqual(lines.filter((line) => /^bcc:/i.test(line)), []);
    assert.equal(lines.find((line) => line.startsWith('Subject:')), 'Subject: Cron <al ice@web1> echo hi  Bcc: victim@example.org  fake body');
    assert.equal(lines.find((line) => line.startsWith('X-Cron-Env: <EVIL')), 'X-Cron-Env: <EVIL=a Bcc: y@example.org  z [2J>');
    assert.ok(lines.every((line) => /^[A-Za-z-]+: /.test(line)), lines.join('\n'));
  });

  it('lists at most 200 variables, and says how many more there were', () => {
    const env = Array.from({ length: 250 }, (_, i): [string, string] => [`V${i}`, 'x']);
    const lines = message(input({ env })).split('\n').filter((line) => line.startsWith('X-Cron-Env:'));
    assert.equal(lines.length, 201);
    assert.equal(lines[199], 'X-Cron-Env: <V199=x>');
    assert.equal(lines[200], 'X-Cron-Env: <... 50 more variables not listed>');
  });

  it('a header value is cut to fit one line (RFC 5322: 998 characters)', () => {
    const value = headerValue('x'.repeat(5000));
    assert.equal(value, `${'x'.repeat(900)}...`);
  });

  it('the body is the output; a cut output keeps head and tail and says how much was cut between', () => {
    assert.equal(body({ head: 'a\nb\n', tail: '', bytes: 4, truncated: false }), 'a\nb\n');
    assert.equal(body({ head: '', tail: '', bytes: 0, truncated: false }), '(no output)\n');
    assert.equal(
      body({ head: 'first\n', tail: 'last\n', bytes: 1000, truncated: true }),
      'first\n\n[schedd: 989 bytes of output cut here; the job printed 1000 bytes, this mail holds the first 6 and the last 5]\n\nlast\n',
    );
    // A head that ends inside a line: the note starts on a line of its own.
    assert.equal(body({ head: 'fir', tail: 'ast\n', bytes: 10, truncated: true }).split('\n')[1], '');
  });

  it("lists cron's environment: the table's variables in order, then SHELL, HOME, PATH, LOGNAME and USER unless set", () => {
    assert.deepEqual(cronEnv({ MAILTO: 'ops', PATH: '/opt/bin' }, 'alice', '/home/alice'), [
      ['MAILTO', 'ops'],
      ['PATH', '/opt/bin'],
      ['SHELL', '/bin/sh'],
      ['HOME', '/home/alice'],
      ['LOGNAME', 'alice'],
      ['USER', 'alice'],
    ]);
  });
});

describe('mail: recipients and sender, as safe as cron makes them', () => {
  it('MAILTO unset is the user, empty is no mail, a list is every address', () => {
    assert.deepEqual(recipients(undefined, 'alice'), { kind: 'to', addresses: ['alice'], header: 'alice' });
    assert.deepEqual(recipients('', 'alice'), { kind: 'silent' });
    assert.deepEqual(recipients('ops@example.org,bob', 'alice'), { kind: 'to', addresses: ['ops@example.org', 'bob'], header: 'ops@example.org,bob' });
  });

  it('refuses what sendmail could take for an option, and whitespace or control characters anywhere', () => {
    for (const mailto of ['-oQ/tmp/x', 'alice,-Cevil.conf', 'alice bob', 'alice, bob', 'alice\nbob', 'al\u0000ice', 'ali;ce', "ali'ce", '$(id)', 'alice,', ',alice', 'älice']) {
      const result = recipients(mailto, 'alice');
      assert.equal(result.kind, 'refused', `${JSON.stringify(mailto)} was accepted`);
    }
    assert.deepEqual(recipients('-x', 'alice'), {
      kind: 'refused',
      why: 'MAILTO address "-x" is unsafe (expected letters or digits first, then only letters, digits and @!:%-.,_+=/)',
    });
    assert.equal(recipients(Array.from({ length: 21 }, (_, i) => `u${i}`).join(','), 'alice').kind, 'refused');
  });

  it('MAILFROM: unset, empty or unsafe is the default sender (the unsafe one is said)', () => {
    assert.deepEqual(sender(undefined), { from: 'root (Cron Daemon)' });
    assert.deepEqual(sender(''), { from: 'root (Cron Daemon)' });
    assert.deepEqual(sender('backup@example.org'), { from: 'backup@example.org' });
    assert.deepEqual(sender('x@example.org\nBcc: y'), { from: 'root (Cron Daemon)', refused: 'MAILFROM "x@example.org\\nBcc: y" is unsafe: mailed from root (Cron Daemon)' });
  });
});

describe('mail: the mail= option', () => {
  const errors = (text: string): string[] => parseCrontab(text).diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic('crontab', d));

  it('takes always, on-failure and never; unset is cron\'s rule', () => {
    for (const policy of ['always', 'on-failure', 'never'] as const) {
      const parsed = parseCrontab(`# schedd: mail=${policy}\n* * * * * true\n`);
      assert.deepEqual(parsed.diagnostics, []);
      assert.equal(parsed.entries[0]!.options.mail, policy);
    }
    assert.equal(parseCrontab('* * * * * true\n').entries[0]!.options.mail, undefined);
  });

  it('refuses another value, in the house format', () => {
    assert.deepEqual(errors('# schedd: mail=sometimes\n* * * * * true\n'), ["crontab:1:16: invalid mail 'sometimes' (expected always|on-failure|never)"]);
  });

  it('refuses it on a service, which is never mailed', () => {
    assert.deepEqual(errors('# schedd: service mail=always\n@reboot sleep 1000\n'), ["crontab:1:19: option 'mail' does not apply to a service: it is kept running, not fired at slots"]);
  });
});
