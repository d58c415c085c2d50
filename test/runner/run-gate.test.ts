import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startRun } from '../../src/runner/index.js';
import { removeTempDirs, spec, tempDir } from './helpers.js';

after(removeTempDirs);

describe('startRun: gated runs (started ahead of their slot)', () => {
  it('holds the job until release, then runs it with its stdin', async () => {
    const dir = tempDir();
    const marker = join(dir, 'ran');
    const handle = startRun(spec({ command: `cat > ${marker}`, stdin: 'line one\nline two\n', gated: true }));
    assert.ok(handle.pid !== null);
    // The process exists, held at its gate: nothing has run yet.
    assert.equal(existsSync(marker), false);
    process.kill(handle.pid, 0);
    const before = Date.now();
    handle.release();
    const result = await handle.done;
    assert.equal(result.outcome, 'ok');
    assert.ok(result.startedAt >= before, 'startedAt is the release time');
    assert.equal(readFileSync(marker, 'utf8'), 'line one\nline two\n');
  });

  it('never runs the job when aborted', async () => {
    const dir = tempDir();
    const marker = join(dir, 'ran');
    const handle = startRun(spec({ command: `touch ${marker}`, gated: true }));
    handle.abort();
    const result = await handle.done;
    assert.deepEqual([result.outcome, result.exitCode, result.reason], ['error', 111, 'aborted before the job started']);
    assert.equal(existsSync(marker), false);
  });

  it('execs another shell through the gate with the command and an empty stdin', async () => {
    const home = tempDir();
    writeFileSync(join(home, '.bashrc'), 'echo bashrc was read\n');
    for (const gated of [true, false]) {
      const lines: string[] = [];
      const handle = startRun(spec({ command: 'if [ -e /proc/$$/fd/3 ]; then echo fd3 open; else echo fd3 closed; fi; echo "$0:$1:$(cat | wc -c)"', shell: '/bin/bash', env: { HOME: home, PATH: '/usr/bin:/bin' }, gated }), { onLine: (_s, line) => lines.push(line) });
      handle.release();
      const result = await handle.done;
      assert.equal(result.outcome, 'ok');
      // Regression: Node's stdin 'pipe' is a socket, and Debian's bash then reads ~/.bashrc.
      // The gate's descriptor does not reach the job.
      assert.deepEqual(lines, ['fd3 closed', '/bin/bash::0'], gated ? 'gated' : 'not gated');
    }
  });

  it('gives a /bin/sh job no positional parameters and the same $0 as sh -c', async () => {
    const lines: string[] = [];
    const handle = startRun(spec({ command: 'echo "[$0][$1][$#]"', gated: true }), { onLine: (_s, line) => lines.push(line) });
    handle.release();
    await handle.done;
    assert.deepEqual(lines, ['[/bin/sh][][0]']);
  });

  it('starts the timeout at release, not at spawn', async () => {
    const handle = startRun(spec({ command: 'sleep 5', gated: true, timeoutMs: 300, killGraceMs: 200 }));
    // Held well past the timeout: a timeout counted from spawn would have fired.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await Promise.race([handle.done.then(() => 'done'), Promise.resolve('pending')]), 'pending');
    handle.release();
    const result = await handle.done;
    assert.equal(result.outcome, 'timeout');
    assert.ok(result.durationMs >= 300 && result.durationMs < 2000, `durationMs ${result.durationMs}`);
  });
});
