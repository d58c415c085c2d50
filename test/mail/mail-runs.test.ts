// The subscriber's decisions, fed run events directly: which run is mailed (mail=, services,
// retries), from which entry (the one claimed, not a reload's), to whom. The sendmail is a tiny
// real script that keeps each message it is given.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseCrontab } from '../../src/crontab/parse.js';
import type { Entry } from '../../src/crontab/types.js';
import type { RunEventOf } from '../../src/events/run-events.js';
import type { LogFields } from '../../src/log.js';
import { mailRuns } from '../../src/mail/mail-runs.js';
import type { MailRecord } from '../../src/store/types.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function setup(crontab: string, sendmailScript?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-mail-runs-'));
  dirs.push(dir);
  const sendmail = join(dir, 'sendmail');
  // Each message in a file of its own, named by its recipients.
  writeFileSync(sendmail, sendmailScript ?? `#!/bin/sh\nshift 4\ncat > "${dir}/mail.$$.$*"\n`, { mode: 0o755 });
  let entries = new Map(parseCrontab(crontab).entries.map((entry) => [entry.id, entry]));
  const recorded: [string, MailRecord][] = [];
  const logged: [string, LogFields][] = [];
  const line = (msg: string) => (fields: LogFields) => logged.push([msg, fields]);
  const log = { info: (fields: LogFields, msg: string) => line(msg)(fields), warn: (fields: LogFields, msg: string) => line(msg)(fields), error: () => undefined, debug: () => undefined };
  const mail = mailRuns({
    log: log as never,
    store: { mailed: (run, record) => (recorded.push([run, record]), Promise.resolve()) },
    sendmail,
    entry: (job) => entries.get(job),
    accounts: new Map(),
    host: 'box.example.org',
    selfUser: 'ops',
  });
  const messages = (): { to: string; text: string }[] =>
    readdirSync(dir)
      .filter((name) => name.startsWith('mail.'))
      .map((name) => ({ to: name.split('.').slice(2).join('.'), text: readFileSync(join(dir, name), 'utf8') }));
  return { mail, recorded, logged, messages, reload: (text: string) => (entries = new Map(parseCrontab(text).entries.map((entry) => [entry.id, entry]))) };
}

const trigger = { kind: 'slot' as const, scheduledAt: 0 };

function claimed(job: string, run: string): RunEventOf<'claimed'> {
  return { type: 'claimed', job, run, trigger, claim: 'won' };
}

function finished(job: string, run: string, outcome: 'ok' | 'failed', output: string, final = true): RunEventOf<'finished'> {
  const bytes = Buffer.byteLength(output);
  const result = { outcome, exitCode: outcome === 'ok' ? 0 : 1, signal: null, pid: 1, startedAt: 0, finishedAt: 1, durationMs: 1, output: { head: output, tail: '', bytes, truncated: false } };
  const record = { outcome, exitCode: result.exitCode, signal: null, startedAt: 0, finishedAt: 1, durationMs: 1, attempt: 1, output: result.output };
  const base = { type: 'finished' as const, job, run, trigger, attempt: 1, result, record };
  return final ? { ...base, final: true } : { ...base, final: false, retry: { attemptId: `${run}.1`, delayMs: 1000, reason: 'retry', nextAttempt: 2 } };
}

const ids = (entries: Entry[]): string[] => entries.map((entry) => entry.id);

describe('mail: which runs are mailed', { concurrency: true }, () => {
  it("cron's rule by default: a run with output, whatever its outcome; none without", async () => {
    const { mail, recorded, messages } = setup('# schedd: name=a\n* * * * * a\n');
    for (const [run, outcome, output] of [['r1', 'ok', 'hi\n'], ['r2', 'failed', 'boom\n'], ['r3', 'ok', ''], ['r4', 'failed', '']] as const) {
      mail.claimed!(claimed('a', run));
      mail.finished!(finished('a', run, outcome, output));
    }
    await mail.idle();
    assert.deepEqual(recorded.map(([run, r]) => [run, r.status]).sort(), [['r1', 'sent'], ['r2', 'sent']]);
    assert.deepEqual(messages().map((m) => m.to), ['ops', 'ops']);
  });

  it('mail=always mails every run, mail=on-failure only failures, mail=never none', async () => {
    const { mail, recorded } = setup('# schedd: name=always mail=always\n* * * * * a\n# schedd: name=onfail mail=on-failure\n* * * * * b\n# schedd: name=never mail=never\n* * * * * c\n');
    let n = 0;
    for (const job of ['always', 'onfail', 'never']) {
      for (const [outcome, output] of [['ok', ''], ['ok', 'x\n'], ['failed', ''], ['failed', 'x\n']] as const) {
        const run = `${job}-${++n}`;
        mail.claimed!(claimed(job, run));
        mail.finished!(finished(job, run, outcome, output));
      }
    }
    await mail.idle();
    assert.deepEqual(recorded.map(([run]) => run).sort(), ['always-1', 'always-2', 'always-3', 'always-4', 'onfail-7', 'onfail-8']);
  });

  it('an attempt that is retried is not mailed; the final one is', async () => {
    const { mail, recorded } = setup('# schedd: name=a retries=1\n* * * * * a\n');
    mail.claimed!(claimed('a', 'r1'));
    mail.finished!(finished('a', 'r1', 'failed', 'first\n', false));
    await mail.idle();
    assert.equal(recorded.length, 0);
    mail.finished!(finished('a', 'r1', 'failed', 'second\n'));
    await mail.idle();
    assert.deepEqual(recorded.map(([run, r]) => [run, r.status]), [['r1', 'sent']]);
  });

  it('the entry mailed for is the one the run was claimed for, not the one a reload put in its place', async () => {
    const { mail, messages, reload } = setup('MAILTO=before\n# schedd: name=a\n* * * * * a\n');
    mail.claimed!(claimed('a', 'r1'));
    reload('MAILTO=after\n# schedd: name=a\n* * * * * a\n');
    mail.finished!(finished('a', 'r1', 'ok', 'out\n'));
    mail.claimed!(claimed('a', 'r2'));
    mail.finished!(finished('a', 'r2', 'ok', 'out\n'));
    await mail.idle();
    assert.deepEqual(messages().map((m) => m.to).sort(), ['after', 'before']);
  });

  it('a service is never mailed', async () => {
    const crontab = '# schedd: name=svc service\n@reboot echo up\n';
    assert.deepEqual(ids(parseCrontab(crontab).entries), ['svc']);
    const { mail, recorded } = setup(crontab);
    mail.claimed!(claimed('svc', 'r1'));
    mail.finished!(finished('svc', 'r1', 'failed', 'out\n'));
    await mail.idle();
    assert.deepEqual(recorded, []);
  });

  it('MAILTO with the user of the run when unset; the Subject names the user and the first label of the host', async () => {
    const { mail, messages } = setup('# schedd: name=a\n* * * * * echo hi\n');
    mail.claimed!(claimed('a', 'r1'));
    mail.finished!(finished('a', 'r1', 'ok', 'hi\n'));
    await mail.idle();
    const [message] = messages();
    assert.equal(message?.to, 'ops');
    assert.match(message!.text, /^To: ops\nSubject: Cron <ops@box> echo hi\n/m);
  });

  it('close (a stop) waits a bounded time for mailers, then records and logs nothing more, and mails no later run', async () => {
    const { mail, recorded, logged } = setup('# schedd: name=a\n* * * * * a\n', '#!/bin/sh\ncat >/dev/null\nexec sleep 2\n');
    mail.claimed!(claimed('a', 'r1'));
    mail.finished!(finished('a', 'r1', 'ok', 'out\n'));
    const started = Date.now();
    await mail.close(200);
    assert.ok(Date.now() - started < 1500, `close took ${Date.now() - started} ms`);
    mail.claimed!(claimed('a', 'r2'));
    mail.finished!(finished('a', 'r2', 'ok', 'out\n'));
    await mail.idle();
    assert.equal(recorded.length, 0);
    assert.equal(logged.length, 0);
  });
});
