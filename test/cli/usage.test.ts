import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.js';

const tmp = tempDir('schedd-usage-');
after(() => tmp.cleanup());

/** The CLI's exit code, stdout and stderr, in one value to compare exactly. */
async function cli(args: string[]): Promise<[number | null, string, string]> {
  const result = await runCli(args, { cwd: tmp.dir, env: { SCHEDD_STATE_DIR: `${tmp.dir}/state`, SCHEDD_CRONTAB: `${tmp.dir}/crontab` } });
  return [result.code, result.stdout, result.stderr];
}

describe('usage errors', () => {
  it('regression (issue 11 item 16): an unknown option is one line naming the command, exit 2', async () => {
    assert.deepEqual(await cli(['list', '--bogus']), [2, '', "schedd: unknown option '--bogus' (see schedd list --help)\n"]);
    assert.deepEqual(await cli(['status', '--jsn']), [2, '', "schedd: unknown option '--jsn'; did you mean --json? (see schedd status --help)\n"]);
  });

  it('regression (issue 11 item 16): every other commander usage error has the same one-line shape', async () => {
    assert.deepEqual(await cli(['run']), [2, '', "schedd: missing required argument 'job' (see schedd run --help)\n"]);
    assert.deepEqual(await cli(['run', 'a', 'b']), [2, '', "schedd: too many arguments for 'run'; expected 1 argument but got 2 (see schedd run --help)\n"]);
    assert.deepEqual(await cli(['start', '--log-level', 'loud']), [
      2,
      '',
      "schedd: --log-level 'loud' is invalid: allowed choices are trace, debug, info, warn, error, fatal, silent (see schedd start --help)\n",
    ]);
    assert.deepEqual(await cli(['history', '--limit', '0']), [2, '', "schedd: --limit '0' is invalid: expected a whole number of 1 or more (see schedd history --help)\n"]);
    assert.deepEqual(await cli(['logs', '--state-dir']), [2, '', "schedd: option '--state-dir <dir>' argument missing (see schedd logs --help)\n"]);
    assert.deepEqual(await cli(['frobnicate']), [2, '', "schedd: unknown command 'frobnicate' (see schedd --help)\n"]);
  });
});

describe('durations', () => {
  it('regression (issue 11 item 16, 17): help shows duration defaults with units', async () => {
    const [code, help] = await cli(['start', '--help']);
    assert.equal(code, 0);
    const flat = help.replace(/\s+/g, ' ');
    assert.match(flat, /--kill-grace <duration> time between SIGTERM and SIGKILL when a job is stopped \(10s, 2m, 1h30m; a bare number is seconds\) \(default: 10s\)/);
    assert.match(flat, /--stop-grace <duration> on stop, how long running jobs get to finish \(10s, 2m, 1h30m; a bare number is seconds\) \(default: 30s\)/);
    const [, stopHelp] = await cli(['stop', '--help']);
    assert.match(stopHelp.replace(/\s+/g, ' '), /--timeout <duration> how long to wait for it to exit \(10s, 2m, 1h30m; a bare number is seconds\) \(default: 2m\)/);
    assert.doesNotMatch(help + stopHelp, /10000|30000|120000/);
  });

  it("regression (issue 11 item 17): the old help's millisecond defaults are refused with a hint", async () => {
    assert.deepEqual(await cli(['start', '--kill-grace', '10000']), [
      2,
      '',
      'schedd: --kill-grace 10000: a bare number is seconds, so this is 2h46m40s (expected at most 3600; write 10s for 10000 milliseconds, 2h46m40s if you mean it)\n',
    ]);
    assert.deepEqual(await cli(['start', '--stop-grace', '30000']), [
      2,
      '',
      'schedd: --stop-grace 30000: a bare number is seconds, so this is 8h20m (expected at most 3600; write 30s for 30000 milliseconds, 8h20m if you mean it)\n',
    ]);
    assert.deepEqual(await cli(['stop', '--timeout', '120000']), [
      2,
      '',
      'schedd: --timeout 120000: a bare number is seconds, so this is 1d9h20m (expected at most 3600; write 2m for 120000 milliseconds, 1d9h20m if you mean it)\n',
    ]);
    assert.deepEqual(await cli(['start', '--kill-grace', '10x']), [2, '', "schedd: --kill-grace '10x' is invalid: expected a duration such as 10s, 2m or a number of seconds (see schedd start --help)\n"]);
  });

  it('bare seconds up to an hour and durations with units are still accepted', async () => {
    // Not running: stop succeeds at once, having parsed its --timeout.
    assert.deepEqual(await cli(['stop', '--timeout', '3600']), [0, 'not running\n', '']);
    assert.deepEqual(await cli(['stop', '--timeout', '36h']), [0, 'not running\n', '']);
  });
});

describe('an option given twice', () => {
  it('regression (issue 11 item 20): -c twice is refused, for every command taking -c', async () => {
    tmp.write('a', '@daily /bin/true\n');
    tmp.write('b', '@daily /bin/false\n');
    const refused = [2, '', 'schedd: -c given twice (expected one crontab)\n'];
    assert.deepEqual(await cli(['start', '-c', 'a', '-c', 'b']), refused);
    assert.deepEqual(await cli(['list', '-c', 'a', '--crontab', 'b']), refused);
    assert.deepEqual(await cli(['check', '-c', 'a', '-c', 'b']), refused);
    assert.deepEqual(await cli(['edit', '-c', 'a', '-c', 'b']), refused);
    assert.deepEqual(await cli(['restart', '-c', 'a', '-c', 'a']), refused);
    assert.deepEqual(await cli(['check', 'a', '-c', 'b']), [2, '', 'schedd: a crontab given twice, as FILE and as -c (expected one crontab)\n']);
    assert.deepEqual(await cli(['check', '-c', 'a']), [0, 'a: ok, 1 job\n', '']);
  });

  it('regression (issue 11 item 20): --state-dir twice is refused too', async () => {
    const refused = [2, '', 'schedd: --state-dir given twice (expected one state directory)\n'];
    assert.deepEqual(await cli(['status', '--state-dir', 'x', '--state-dir', 'y']), refused);
    assert.deepEqual(await cli(['stop', '--state-dir', 'x', '--state-dir', 'y']), refused);
    assert.deepEqual(await cli(['start', '--state-dir', 'x', '--state-dir', 'y']), refused);
  });
});
