import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cliEnv, cliPath, collect, runCli, tempDir } from '../helpers/cli.js';

// runCli reads the CLI's stdout and stderr through pipes, as `schedd ... | cat` does: a pipe
// takes 64 KiB at a time, so output beyond that is still queued when the command returns.

const tmp = tempDir('schedd-pipe-');
after(() => tmp.cleanup());
const env = { SCHEDD_STATE_DIR: join(tmp.dir, 'state') };

describe('output through a pipe', () => {
  it('regression (issue 11 item 13): list --json of 5,000 jobs through a pipe is whole JSON', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `# schedd: name=job${i}\n${i % 60} * * * * /usr/bin/printf 'job number ${i}'\n`);
    tmp.write('many', lines.join(''));
    const result = await runCli(['list', '--json', '-c', 'many'], { cwd: tmp.dir, env });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.length > 4 * 65_536, `only ${result.stdout.length} bytes`);
    const jobs = JSON.parse(result.stdout) as { id: string }[];
    assert.equal(jobs.length, 5000);
    assert.equal(jobs[4999]!.id, 'job4999');
  });

  it('regression (issue 11 item 13): check with many errors writes every line and its summary', async () => {
    tmp.write('broken', Array.from({ length: 3000 }, (_, i) => `61 * * * * /bin/echo ${i}\n`).join(''));
    const result = await runCli(['check', 'broken'], { cwd: tmp.dir, env });
    assert.equal(result.code, 1);
    assert.ok(result.stderr.length > 65_536, `only ${result.stderr.length} bytes`);
    const shown = result.stderr.split('\n');
    assert.equal(shown.pop(), '');
    assert.equal(shown.pop(), 'broken: 3000 errors, 0 warnings');
    for (const line of shown) assert.match(line, /^broken:\d+:1: invalid minute '61' \(expected 0-59\)$/);
  });

  it('regression (issue 11 item 13): logs of a big log prints every line asked for', async () => {
    const stateDir = join(tmp.dir, 'state');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const records = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ level: 30, time: '2026-11-22T08:30:00.000Z', job: 'big', run: 'r1', stream: 'stdout', line: `line ${i}`, msg: 'job output' }));
    writeFileSync(join(stateDir, 'schedd.log'), `${records.join('\n')}\n`);
    const result = await runCli(['logs', '-n', '20000'], { cwd: tmp.dir, env });
    assert.equal(result.code, 0, result.stderr);
    const shown = result.stdout.split('\n');
    assert.equal(shown.length, 20_001);
    assert.equal(shown[0], '2026-11-22 08:30:00.000 INFO  big stdout| line 0');
    assert.equal(shown[19_999], '2026-11-22 08:30:00.000 INFO  big stdout| line 19999');
  });

  it('a reader that stops early (| head -c 1) ends the command quietly, exit 0 (no EPIPE error once the CLI waits for its output)', async () => {
    // The shell reports the CLI's own exit code and stderr; head exits after one byte.
    const script = `"${process.execPath}" "${cliPath}" list --json -c many 2>err | head -c 1 >/dev/null; echo "\${PIPESTATUS[0]}"; cat err`;
    const result = await collect(spawn('bash', ['-c', script], { cwd: tmp.dir, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.deepEqual([result.code, result.stdout, result.stderr], [0, '0\n', '']);
  });
});
