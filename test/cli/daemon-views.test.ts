// What `logs`, `output`, `status` and `list` show of a running daemon's jobs, from a job that
// tries to drive the terminal and a crontab whose name and command carry control characters.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupAll, Instance } from '../helpers/detached.js';
import { waitUntil } from '../helpers/wait.js';

const ATTACK = '\x1b]0;pwned\x07\x1b[2Jfake\rschedd: job finished';
const SHOWN = '\\x1b]0;pwned\\x07\\x1b[2Jfake\\x0dschedd: job finished';
/** Any control character but tab and newline. */
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

interface Failure {
  job: string;
  outcome: string;
  exitCode: number | null;
}

describe('a running daemon, shown to people', () => {
  // The crontab's own name sets the title, if printed raw.
  const ws = new Instance({ crontab: 'cron\x1b]0;tab\x07' });
  after(() => cleanupAll());

  before(async () => {
    ws.write(
      'cron\x1b]0;tab\x07',
      [
        'MAILTO=""',
        '# schedd: name=evil',
        // printf writes ESC, BEL and CR itself: the crontab holds only their octal escapes.
        `* * * * * * printf '\\033]0;pwned\\007\\033[2Jfake\\rschedd: job finished\\n'; exit 3`,
        '# schedd: name=mail',
        '@yearly cat >/dev/null%to: ops%body',
        '# schedd: name=clear',
        '@yearly echo \x1b[2J >/dev/null',
        '',
      ].join('\n'),
    );
    await ws.started();
    // Five failed runs, recorded in the history.
    await waitUntil('five failed runs in the history', async () => {
      const history = await ws.cli(['history', 'evil', '--json', '--state-dir', ws.stateDir]);
      return history.code === 0 && (JSON.parse(history.stdout) as Failure[]).filter((run) => run.outcome === 'failed').length >= 5;
    }, 20_000);
  });

  it("regression (issue 11 item 7): logs shows a job's ESC, OSC, BEL and CR escaped", async () => {
    const result = await ws.cli(['logs', '--state-dir', ws.stateDir, '--job', 'evil', '-n', '200']);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, RAW_CONTROL);
    const output = result.stdout.split('\n').filter((line) => line.includes('evil stdout|'));
    assert.ok(output.length >= 5);
    for (const line of output) assert.match(line, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  evil stdout\\| ${SHOWN.replace(/[\\[\]]/g, '\\$&')}$`));
    const json = await ws.cli(['logs', '--state-dir', ws.stateDir, '--json', '-n', '200']);
    assert.doesNotMatch(json.stdout, RAW_CONTROL);
    assert.ok(json.stdout.split('\n').some((line) => line !== '' && (JSON.parse(line) as { line?: string }).line === ATTACK));
  });

  it('regression (issue 11 item 7): output shows it escaped, output --raw gives the bytes', async () => {
    const shown = await ws.cli(['output', 'evil', '--state-dir', ws.stateDir]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stdout, `${SHOWN}\n`);
    assert.match(shown.stderr, /^# evil run \S+, failed \(exit 3\), 40 bytes of output\n$/);
    const raw = await ws.cli(['output', 'evil', '--raw', '--state-dir', ws.stateDir]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal(raw.stdout, `${ATTACK}\n`);
  });

  it("regression (issue 11 item 7): status and list show the crontab's name and commands escaped", async () => {
    const status = await ws.cli(['status', '--state-dir', ws.stateDir]);
    assert.equal(status.code, 0, status.stderr);
    assert.doesNotMatch(status.stdout, RAW_CONTROL);
    assert.ok(status.stdout.includes(`\ncrontab:     ${ws.dir}/cron\\x1b]0;tab\\x07 (3 jobs)\n`), status.stdout);
    const list = await ws.cli(['list', '--state-dir', ws.stateDir]);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, RAW_CONTROL);
    assert.match(list.stdout, /\n\S*clear .*  echo \\x1b\[2J >\/dev\/null\n/);
  });

  it('regression (issue 11 item 20): status of a running daemon shows the last failures', async () => {
    const status = await ws.cli(['status', '--state-dir', ws.stateDir]);
    const lines = status.stdout.split('\n');
    const first = lines.findIndex((line) => line.startsWith('failures:'));
    assert.ok(first > 0, status.stdout);
    assert.match(lines[first]!, /^failures: {4}evil failed \(exit 3\), \d+s ago$/);
    for (const line of lines.slice(first + 1, first + 5)) assert.match(line, /^ {13}evil failed \(exit 3\), \d+s ago$/);
    assert.equal(lines[first + 5], '');
    const json = JSON.parse((await ws.cli(['status', '--json', '--state-dir', ws.stateDir])).stdout) as { lastFailures: (Failure & { runId: string; scheduledAt: string })[] };
    assert.equal(json.lastFailures.length, 5);
    for (const run of json.lastFailures) assert.deepEqual([run.job, run.outcome, run.exitCode], ['evil', 'failed', 3]);
    const slots = json.lastFailures.map((run) => run.scheduledAt);
    assert.deepEqual(slots, [...slots].sort().reverse(), 'newest first');
  });

  it("regression (issue 11 item 20): list --json carries a % job's whole command and its input", async () => {
    const result = await ws.cli(['list', '--json', '--state-dir', ws.stateDir]);
    assert.equal(result.code, 0, result.stderr);
    const mail = (JSON.parse(result.stdout) as { id: string; command: string; input: string | null }[]).find((job) => job.id === 'mail');
    assert.deepEqual([mail?.command, mail?.input], ['cat >/dev/null', 'to: ops\nbody\n']);
    const evil = (JSON.parse(result.stdout) as { id: string; input: string | null }[]).find((job) => job.id === 'evil');
    assert.equal(evil?.input, null);
    // The table still says only that there is input.
    const table = await ws.cli(['list', '--state-dir', ws.stateDir]);
    assert.match(table.stdout, /\nmail .*  cat >\/dev\/null%…\n/);
  });
});
