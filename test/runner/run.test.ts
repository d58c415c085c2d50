import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startRun } from '../../src/runner/run.js';
import { lineCollector, removeTempDirs, spec, tempDir } from './helpers.js';

describe('startRun: outcomes, stdin, env, cwd', () => {
  after(removeTempDirs);

  it('reports ok with each stream\'s lines in order, including a trailing partial line', async () => {
    const { lines, onLine } = lineCollector();
    const handle = startRun(
      spec({ command: "echo out1; echo err1 >&2; echo out2; printf 'err2' >&2" }),
      { onLine },
    );
    assert.equal(typeof handle.pid, 'number');
    const result = await handle.done;
    assert.equal(result.outcome, 'ok');
    assert.equal(result.exitCode, 0);
    assert.equal(result.signal, null);
    assert.equal(result.reason, undefined);
    assert.equal(result.pid, handle.pid);
    assert.deepEqual(lines, { stdout: ['out1', 'out2'], stderr: ['err1', 'err2'] });
    assert.deepEqual({ ...result.output, head: result.output.head.length }, {
      head: 19,
      tail: '',
      bytes: 19,
      truncated: false,
    });
    assert.equal(result.finishedAt - result.startedAt, result.durationMs);
  });

  it('reports failed with the exit code', async () => {
    const result = await startRun(spec({ command: 'echo bye; exit 3' })).done;
    assert.equal(result.outcome, 'failed');
    assert.equal(result.exitCode, 3);
    assert.equal(result.signal, null);
    assert.equal(result.output.head, 'bye\n');
  });

  it('reports killed when the job dies of a signal schedd did not send', async () => {
    const result = await startRun(spec({ command: 'kill -KILL $$' })).done;
    assert.equal(result.outcome, 'killed');
    assert.equal(result.exitCode, null);
    assert.equal(result.signal, 'SIGKILL');
    assert.equal(result.reason, 'killed by SIGKILL');
  });

  it('delivers stdin exactly, then closes it', async () => {
    const stdin = 'line one\nhéllo ✓\n\nno newline at end';
    const { lines, onLine } = lineCollector();
    const result = await startRun(spec({ command: 'cat', stdin }), { onLine }).done;
    assert.equal(result.outcome, 'ok');
    assert.equal(result.output.head, stdin);
    assert.equal(result.output.bytes, Buffer.byteLength(stdin));
    assert.deepEqual(lines.stdout, ['line one', 'héllo ✓', '', 'no newline at end']);
  });

  it('gives an empty stdin when stdin is null', async () => {
    const result = await startRun(spec({ command: 'cat; echo eof', stdin: null })).done;
    assert.equal(result.outcome, 'ok');
    assert.equal(result.output.head, 'eof\n');
  });

  it('ignores EPIPE when the job never reads a large stdin', async () => {
    const result = await startRun(spec({ command: 'exit 0', stdin: 'x'.repeat(8 * 1024 * 1024) })).done;
    assert.equal(result.outcome, 'ok');
  });

  it('passes exactly the given environment (only PWD is added, by the shell)', async () => {
    process.env.SCHEDD_RUNNER_LEAK = 'must not reach the job';
    const cwd = tempDir();
    const env = { PATH: '/usr/bin:/bin', FOO: 'bar baz', EMPTY: '' };
    const { lines, onLine } = lineCollector();
    const result = await startRun(spec({ command: 'env', env, cwd }), { onLine }).done;
    delete process.env.SCHEDD_RUNNER_LEAK;
    assert.equal(result.outcome, 'ok');
    assert.deepEqual(lines.stdout.sort(), ['EMPTY=', 'FOO=bar baz', 'PATH=/usr/bin:/bin', `PWD=${cwd}`].sort());
  });

  it('runs in the given cwd', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'marker'), 'here\n');
    const result = await startRun(spec({ command: 'pwd; cat marker', cwd })).done;
    assert.equal(result.outcome, 'ok');
    assert.equal(result.output.head, `${cwd}\nhere\n`);
  });

  it('reports error, not an exception, when the shell does not exist', async () => {
    const handle = startRun(spec({ shell: '/nonexistent/sh' }));
    assert.equal(handle.pid, null);
    handle.stop('no-op on a run that never started');
    const result = await handle.done;
    assert.equal(result.outcome, 'error');
    assert.equal(result.reason, 'cannot start: shell /nonexistent/sh does not exist');
    assert.equal(result.pid, null);
    assert.equal(result.exitCode, null);
    assert.deepEqual(result.output, { head: '', tail: '', bytes: 0, truncated: false });
  });

  it('reports error when cwd does not exist or is a file', async () => {
    const dir = tempDir();
    const missing = join(dir, 'missing');
    const file = join(dir, 'file');
    writeFileSync(file, '');
    mkdirSync(join(dir, 'present'));
    const [a, b] = await Promise.all([
      startRun(spec({ cwd: missing })).done,
      startRun(spec({ cwd: file })).done,
    ]);
    assert.equal(a.outcome, 'error');
    assert.equal(a.reason, `cannot start: cwd ${missing} does not exist`);
    assert.equal(b.outcome, 'error');
    assert.equal(b.reason, `cannot start: cwd ${file} is not a directory`);
  });

  it('reports error when spawn rejects its options synchronously', async () => {
    const result = await startRun(spec({ command: 'echo \u0000' })).done;
    assert.equal(result.outcome, 'error');
    assert.match(result.reason ?? '', /^cannot start: .*null bytes/);
  });
});
