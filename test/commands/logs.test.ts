import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it, type TestContext } from 'node:test';
import { logsCommand, type LogsOptions } from '../../src/commands/logs.js';
import { ScheddError } from '../../src/errors.js';
import { sink, tempDir } from '../helpers/cli.js';
import { waitUntil } from '../helpers/wait.js';

const followFixture = fileURLToPath(new URL('../../../test/fixtures/commands/follow-logs.mjs', import.meta.url));

const tmp = tempDir('schedd-logs-');
after(() => tmp.cleanup());

/** A record as pino writes it: level and time first, msg last. */
function record(level: number, time: string, msg: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ level, time, ...fields, msg });
}

const LOG = [
  record(30, '2026-11-22T08:30:00.123Z', 'daemon started', { crontab: '/etc/schedd/crontab', jobs: 2 }),
  record(30, '2026-11-22T08:31:00.004Z', 'job started', { job: 'backup', run: 'r1', pid: 4242 }),
  record(30, '2026-11-22T08:31:00.050Z', 'job output', { job: 'backup', run: 'r1', stream: 'stdout', line: 'copied 3 files' }),
  record(40, '2026-11-22T08:31:01.000Z', 'job output', { job: 'report', run: 'r2', stream: 'stderr', line: 'disk almost full' }),
  'TypeError: boom',
  '    at main (file:///usr/lib/schedd/cli.js:1:1)',
  record(50, '2026-11-22T08:31:02.500Z', 'job failed', { job: 'backup', run: 'r1', pid: 4242, exitCode: 2, outcome: 'failed', durationMs: 2496 }),
  record(60, '2026-11-22T08:32:00.000Z', 'crontab unreadable', { errors: [] }),
];

const SHOWN = [
  '2026-11-22 08:30:00.123 INFO  daemon started (crontab=/etc/schedd/crontab jobs=2)',
  '2026-11-22 08:31:00.004 INFO  backup: job started (run=r1 pid=4242)',
  '2026-11-22 08:31:00.050 INFO  backup stdout| copied 3 files',
  '2026-11-22 08:31:01.000 WARN  report stderr| disk almost full',
  'TypeError: boom',
  '    at main (file:///usr/lib/schedd/cli.js:1:1)',
  '2026-11-22 08:31:02.500 ERROR backup: job failed (run=r1 pid=4242 exitCode=2 outcome=failed durationMs=2496)',
  '2026-11-22 08:32:00.000 FATAL crontab unreadable',
];

let files = 0;
function logFile(lines: readonly string[], trailer = '\n'): string {
  return tmp.write(`schedd-${++files}.log`, `${lines.join('\n')}${trailer}`);
}

async function logs(logPath: string, options: Partial<LogsOptions> = {}): Promise<string> {
  const out = sink();
  const code = await logsCommand({ logPath, follow: false, lines: 50, json: false, zone: 'UTC', output: out.stream, ...options });
  assert.equal(code, 0);
  return out.text();
}

describe('schedd logs', () => {
  it('prints every record as TIME LEVEL message, and other lines as they are', async () => {
    assert.equal(await logs(logFile(LOG)), `${SHOWN.join('\n')}\n`);
  });

  it('prints the last N lines', async () => {
    const path = logFile(LOG);
    assert.equal(await logs(path, { lines: 3 }), `${SHOWN.slice(-3).join('\n')}\n`);
    assert.equal(await logs(path, { lines: 1 }), `${SHOWN.at(-1)}\n`);
  });

  it('shows a last line without a newline; nothing for an empty log or zero lines', async () => {
    assert.equal(await logs(logFile(LOG.slice(0, 2), ''), { lines: 1 }), `${SHOWN[1]}\n`);
    assert.equal(await logs(logFile([], '')), '');
    assert.equal(await logs(logFile(LOG), { lines: 0 }), '');
  });

  it('with job, only that job\'s records', async () => {
    const path = logFile(LOG);
    assert.equal(await logs(path, { job: 'backup' }), `${[SHOWN[1], SHOWN[2], SHOWN[6]].join('\n')}\n`);
    assert.equal(await logs(path, { job: 'backup', lines: 2 }), `${[SHOWN[2], SHOWN[6]].join('\n')}\n`);
    assert.equal(await logs(path, { job: 'nightly' }), '');
  });

  it('with json, the raw lines', async () => {
    const path = logFile(LOG);
    assert.equal(await logs(path, { json: true, lines: 4 }), `${LOG.slice(-4).join('\n')}\n`);
    assert.equal(await logs(path, { json: true, job: 'report' }), `${LOG[3]}\n`);
  });

  it('shows times in the given zone', async () => {
    const path = logFile(LOG.slice(0, 1));
    assert.equal(await logs(path, { zone: 'Europe/Berlin' }), '2026-11-22 09:30:00.123 INFO  daemon started (crontab=/etc/schedd/crontab jobs=2)\n');
  });

  it('reads a large log backwards across chunk boundaries, multi-byte characters included', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      lines.push(record(30, new Date(Date.UTC(2026, 10, 22) + i).toISOString(), 'job output', { job: `job-${i % 7}`, stream: 'stdout', line: `line ${i}` }));
      // Lines longer than a 64 kB chunk, of two-byte characters, here and there.
      if (i % 5000 === 4999) lines.push(record(30, '2026-11-22T09:00:00.000Z', 'job output', { job: 'wide', stream: 'stdout', line: 'é'.repeat(50_000 + i) }));
    }
    const path = logFile(lines);
    for (const n of [1, 2, 3, 1000, 20_003, 20_004, 50_000]) {
      assert.equal(await logs(path, { json: true, lines: n }), `${lines.slice(-n).join('\n')}\n`, `last ${n}`);
    }
    const wide = lines.filter((line) => line.includes('"wide"'));
    assert.equal(await logs(path, { json: true, job: 'wide', lines: 3 }), `${wide.slice(-3).join('\n')}\n`);
  });

  it('explains a missing log', async () => {
    const path = join(tmp.dir, 'state', 'schedd.log');
    await assert.rejects(logsCommand({ logPath: path, follow: false, lines: 50, json: false }), (error: unknown) => {
      assert.ok(error instanceof ScheddError);
      assert.equal(error.code, 'SCHEDD_NO_LOG');
      assert.equal(error.exitCode, 1);
      assert.equal(error.message, `no log at ${path} (the daemon writes it in detached mode; in the foreground logs go to stdout)`);
      return true;
    });
  });
});

describe('schedd logs --follow', () => {
  /**
   * Starts following; `stop()` ends it and returns the exit code. Stopped after the test in
   * any case: a follower left running would keep the test process alive.
   */
  function follow(t: TestContext, logPath: string, options: Partial<LogsOptions> = {}): { until(what: string, expected: string[]): Promise<void>; stop(): Promise<number> } {
    const out = sink();
    const abort = new AbortController();
    const done = logsCommand({ logPath, follow: true, lines: 50, json: false, zone: 'UTC', output: out.stream, signal: abort.signal, ...options });
    const stop = (): Promise<number> => {
      abort.abort();
      return done;
    };
    t.after(stop);
    return {
      until: (what, expected) =>
        waitUntil(what, () => out.text() === `${expected.join('\n')}\n`, 5_000).then(() => undefined, (error: Error) => {
          throw new Error(`${error.message}; output so far:\n${out.text()}`);
        }),
      stop,
    };
  }

  it('prints lines as they are appended, a partial line once it is complete', async (t) => {
    const path = logFile(LOG.slice(0, 2));
    const following = follow(t, path, { lines: 1 });
    await following.until('the tail', [SHOWN[1]!]);
    appendFileSync(path, `${LOG[2]}\n`);
    await following.until('an appended line', SHOWN.slice(1, 3));
    appendFileSync(path, LOG[3]!.slice(0, 40));
    appendFileSync(path, `${LOG[3]!.slice(40)}\n${LOG[4]}\n`);
    await following.until('a line written in two parts', SHOWN.slice(1, 5));
    assert.equal(await following.stop(), 0);
  });

  it('survives a rotation: the rest of the old file, then the new one from its start', async (t) => {
    const path = logFile(LOG.slice(0, 1));
    const following = follow(t, path);
    await following.until('the tail', SHOWN.slice(0, 1));
    // Synchronously, so the follower cannot look between the steps: the daemon's last line
    // goes to the renamed file, then it reopens the path.
    renameSync(path, `${path}.1`);
    appendFileSync(`${path}.1`, `${LOG[1]}\n`);
    writeFileSync(path, `${LOG[2]}\n`);
    await following.until('the new file', SHOWN.slice(0, 3));
    appendFileSync(path, `${LOG[3]}\n`);
    await following.until('a line appended to the new file', SHOWN.slice(0, 4));
    // Copied and truncated in place (logrotate's copytruncate): the same inode, smaller.
    writeFileSync(path, `${LOG[7]}\n`);
    await following.until('the truncated file', [...SHOWN.slice(0, 4), SHOWN[7]!]);
    assert.equal(await following.stop(), 0);
  });

  it('waits for a log that does not exist yet, in a folder that does not either', async (t) => {
    const dir = join(tmp.dir, `later-${++files}`);
    const path = join(dir, 'schedd.log');
    const following = follow(t, path, { job: 'backup' });
    mkdirSync(dir);
    writeFileSync(path, `${LOG.join('\n')}\n`);
    await following.until('the new log', [SHOWN[1]!, SHOWN[2]!, SHOWN[6]!]);
    assert.equal(await following.stop(), 0);
  });

  it('stops on SIGINT with exit code 0', async (t) => {
    const path = logFile(LOG.slice(0, 2));
    const child = spawn(process.execPath, [followFixture, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => void child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
    await waitUntil('the tail', () => stdout === `${SHOWN.slice(0, 2).join('\n')}\n`);
    appendFileSync(path, `${LOG[2]}\n`);
    await waitUntil('the appended line', () => stdout === `${SHOWN.slice(0, 3).join('\n')}\n`);
    child.kill('SIGINT');
    assert.deepEqual(await exited, [0, null]);
    assert.equal(stderr, '');
  });
});
