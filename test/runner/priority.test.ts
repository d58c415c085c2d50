// A raised scheduler, its jobs at the starting nice: in a process of its own started at nice 3
// (the raise is process-wide), with the runner as the daemon uses it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const root = fileURLToPath(new URL('../../src/runner/', import.meta.url));
const isRoot = process.getuid?.() === 0;

const SCRIPT = `
const { raiseSchedulerPriority } = await import(${JSON.stringify(root + 'priority.js')});
const { startRun } = await import(${JSON.stringify(root + 'run.js')});
const { getPriority } = await import('node:os');
const nice = (stat) => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
const raise = raiseSchedulerPriority();
const base = { shell: '/bin/sh', stdin: null, env: { PATH: process.env.PATH }, cwd: '/', killGraceMs: 1000 };
const run = async (extra) => {
  const handle = startRun({ ...base, command: 'cat /proc/self/stat', ...extra });
  if (extra.gated) setTimeout(() => handle.release(), 50);
  const result = await handle.done;
  return { outcome: result.outcome, nice: nice(result.output.head) };
};
const bash = await run({ shell: '/bin/bash', gated: true });
console.log(JSON.stringify({ raise, own: getPriority(), gated: await run({ gated: true }), ungated: await run({}), bash }));
`;

describe('scheduler priority (runner)', () => {
  it('as root: raised by 10 from the starting nice, gated and ungated jobs at the starting nice', { skip: isRoot ? false : 'needs root' }, () => {
    const out = JSON.parse(execFileSync('nice', ['-n', '3', process.execPath, '--input-type=module', '-e', SCRIPT], { encoding: 'utf8' }));
    assert.deepEqual(out, { raise: { raised: true, from: 3, to: -7 }, own: -7, gated: { outcome: 'ok', nice: 3 }, ungated: { outcome: 'ok', nice: 3 }, bash: { outcome: 'ok', nice: 3 } });
  });

  it('not allowed to raise (nice cannot go down): nothing raised, jobs inherit as before', () => {
    // Without privileges (as a user, or root without CAP_SYS_NICE) the raise fails and says why.
    const argv = isRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', 'nice', '-n', '3'] : ['nice', '-n', '3'];
    const out = JSON.parse(execFileSync(argv[0]!, [...argv.slice(1), process.execPath, '--input-type=module', '-e', SCRIPT], { encoding: 'utf8', cwd: '/' }));
    assert.deepEqual(out, { raise: { raised: false, from: 3, reason: 'EACCES' }, own: 3, gated: { outcome: 'ok', nice: 3 }, ungated: { outcome: 'ok', nice: 3 }, bash: { outcome: 'ok', nice: 3 } });
  });
});
