// The detached daemon's memory (issue 13): the watchdog loads only what it needs and runs with
// the Node flags chosen for it; the scheduler, which fires, keeps Node's defaults. Checked from /proc, not by measuring RSS
// (a shared machine's figures belong to the bench).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, it } from 'node:test';
import { commandLine } from '../../../src/runner/process-group.js';
import { WATCHDOG_NODE_FLAGS } from '../../../src/daemon/detach.js';
import { cleanupAll, instance } from '../../helpers/detached.js';

after(cleanupAll);

/** The files a process has mapped (its code, native addons), from /proc/PID/maps. */
function mappedFiles(pid: number): string[] {
  const lines = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
  return [...new Set(lines.map((line) => line.split(/\s+/)[5] ?? '').filter((path) => path.startsWith('/')))];
}

const sqliteAddon = (files: string[]): boolean => files.some((path) => path.endsWith('better_sqlite3.node'));

it('the watchdog runs without JIT and without SQLite; the scheduler with JIT and SQLite', async (t) => {
  const s = instance(t);
  s.write('crontab', '# schedd: name=yearly\n0 0 1 1 * true\n');
  const pid = await s.started();
  const { schedulerPid } = await s.status();
  const watchdogArgv = commandLine(pid)!;
  const schedulerArgv = commandLine(schedulerPid)!;
  // Node's own flags come before the script: [node, ...flags, script, command, ...].
  assert.deepEqual(watchdogArgv.slice(1, 1 + WATCHDOG_NODE_FLAGS.length), [...WATCHDOG_NODE_FLAGS]);
  assert.equal(watchdogArgv[2 + WATCHDOG_NODE_FLAGS.length], '__watchdog');
  assert.equal(schedulerArgv[2], '__scheduler');
  // The lean entry: the watchdog never loaded the store (nor, with it, the scheduler).
  assert.equal(sqliteAddon(mappedFiles(pid)), false, 'the watchdog mapped better_sqlite3.node');
  assert.equal(sqliteAddon(mappedFiles(schedulerPid)), true, 'the check reads the wrong file');
  // --jitless without --no-expose-wasm makes Node warn on stderr, which is the log file.
  assert.equal(readFileSync(s.logPath, 'utf8').includes('Warning'), false);
  assert.equal((await s.stop()).code, 0);
});
