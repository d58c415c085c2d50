import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isGroupAlive, killGroup, terminateGroup } from '../../src/runner/process-group.js';
import { startRun } from '../../src/runner/run.js';
import type { RunHandle } from '../../src/runner/types.js';
import { fixture, isAlive, lineCollector, readPid, removeTempDirs, spec, tempDir } from './helpers.js';
import { waitUntil } from '../helpers/wait.js';
import { processStat } from '../../src/runner/index.js';

describe('startRun: timeout, stop() and leftover processes', () => {
  after(removeTempDirs);

  it('regression (issue 11 item 17): the timeout reason says the duration as written (timeout=1s: "timed out after 1s", not 1000 ms)', async () => {
    const result = await startRun(spec({ command: 'sleep 30', timeoutMs: 1000, killGraceMs: 1500 })).done;
    assert.deepEqual([result.outcome, result.reason], ['timeout', 'timed out after 1s']);
  });

  it('times out: SIGTERM to the group, then SIGKILL for a grandchild that ignores SIGTERM', async () => {
    const pidFile = join(tempDir(), 'grandchild.pid');
    const { lines, onLine } = lineCollector();
    const handle = startRun(
      spec({ command: `'${fixture('tree-ignoring-term.sh')}' '${pidFile}'`, timeoutMs: 500, killGraceMs: 300 }),
      { onLine },
    );
    const result = await handle.done;
    const grandchild = readPid(pidFile);
    assert.equal(result.outcome, 'timeout');
    assert.equal(result.signal, 'SIGTERM');
    assert.equal(result.exitCode, null);
    assert.equal(result.reason, 'timed out after 500ms; SIGKILL after 300ms grace');
    assert.ok(result.durationMs >= 790, `durationMs ${result.durationMs} should include the grace`);
    assert.deepEqual(lines.stdout, ['ready']);
    await waitUntil(`grandchild ${grandchild} to die`, () => !isAlive(grandchild));
  });

  it('stop() kills the whole tree and reports killed with the given reason', async () => {
    const pidFile = join(tempDir(), 'grandchild.pid');
    let handle: RunHandle | undefined;
    handle = startRun(spec({ command: `'${fixture('tree-ignoring-term.sh')}' '${pidFile}'`, killGraceMs: 200 }), {
      onLine: (_stream, line) => {
        if (line === 'ready') handle?.stop('operator request');
      },
    });
    const result = await handle.done;
    const grandchild = readPid(pidFile);
    assert.equal(result.outcome, 'killed');
    assert.equal(result.signal, 'SIGTERM');
    assert.equal(result.reason, 'operator request; SIGKILL after 200ms grace');
    await waitUntil(`grandchild ${grandchild} to die`, () => !isAlive(grandchild));
    handle.stop('after the run is over: a no-op');
  });

  it('stop() finishes as soon as the group is gone, without waiting out the grace', async () => {
    // exec: the shell is the group's only member, so Node reaps it and the group empties at
    // once. An orphan would linger as a zombie until init reaps it, and zombies count as members.
    const handle = startRun(spec({ command: 'echo ready; exec sleep 30', killGraceMs: 10_000 }), {
      onLine: (_stream, line) => {
        if (line === 'ready') handle.stop('operator request');
      },
    });
    const result = await handle.done;
    assert.equal(result.outcome, 'killed');
    assert.equal(result.signal, 'SIGTERM');
    assert.equal(result.reason, 'operator request');
    assert.ok(result.durationMs < 2000, `durationMs ${result.durationMs} should not include the grace`);
  });

  it('finishes when the shell exits even if a background grandchild keeps stdout open', async () => {
    const pidFile = join(tempDir(), 'background.pid');
    const { lines, onLine } = lineCollector();
    const handle = startRun(spec({ command: `'${fixture('background-holds-stdout.sh')}' '${pidFile}'` }), {
      onLine,
    });
    const result = await handle.done;
    const background = readPid(pidFile);
    try {
      assert.equal(result.outcome, 'ok');
      assert.equal(result.exitCode, 0);
      assert.deepEqual(lines.stdout, ['started']);
      // The drain grace is 200 ms; the grandchild lives 30 s.
      assert.ok(result.durationMs < 1500, `durationMs ${result.durationMs}`);
      assert.equal(isAlive(background), true, 'the grandchild should still hold the pipe');
    } finally {
      killGroup(handle.pid ?? 0, 'SIGKILL');
    }
    await waitUntil(`background ${background} to die`, () => !isAlive(background));
  });

  it('killGroup returns false once the group is gone', async () => {
    const result = await startRun(spec({ command: 'exit 0' })).done;
    assert.equal(result.outcome, 'ok');
    assert.equal(isGroupAlive(result.pid ?? 0), false);
    assert.equal(killGroup(result.pid ?? 0, 'SIGTERM'), false);
  });

  it('regression: a group left with only a zombie counted as alive, so a timeout waited the whole kill grace where init reaps late', async (t) => {
    // The zombie is a group leader whose parent (a `sleep` that replaced the shell) never reaps it.
    const dir = mkdtempSync(join(tmpdir(), 'schedd-zombie-'));
    const file = join(dir, 'pid');
    const parent = spawn('/bin/sh', ['-c', `setsid /bin/sh -c 'echo $$ > ${file}' & exec sleep 60`], { stdio: 'ignore' });
    t.after(() => {
      parent.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    let zombie = 0;
    await waitUntil('the zombie', () => {
      zombie = existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
      return zombie > 1 && processStat(zombie)?.state === 'Z';
    });
    assert.doesNotThrow(() => process.kill(-zombie, 0), 'the group still exists for kill()');
    assert.equal(isGroupAlive(zombie), false);
    assert.equal(await terminateGroup(zombie, 5000).done, 'exited');
  });

  it('killGroup refuses ids that would signal our own group or everything', () => {
    assert.throws(() => killGroup(0, 'SIGTERM'), RangeError);
    assert.throws(() => killGroup(1, 'SIGTERM'), RangeError);
    assert.throws(() => isGroupAlive(-5), RangeError);
  });
});
