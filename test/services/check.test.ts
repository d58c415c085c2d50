// Services (issue 14): what `schedd check` says about service entries, each error at its
// line:column, and that start refuses what check refuses.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());

describe('schedd check: services', { concurrency: true }, () => {
  it("reports 'service' on an entry that is not @reboot, at the option's line and column", async () => {
    tmp.write('slot', '# schedd: name=web service\n*/5 * * * * ./web\n');
    const result = await runCli(['check', 'slot'], { cwd: tmp.dir });
    assert.deepEqual(result, {
      code: 1,
      signal: null,
      stdout: '',
      stderr: "slot:1:20: 'service' needs an @reboot entry: a service is kept running, not started at slots (expected @reboot COMMAND on the line below)\nslot: 1 error, 0 warnings\n",
    });
  });

  it('reports every problem of the service entries in the file', async () => {
    tmp.write(
      'many',
      [
        '# schedd: name=a restart=never',
        '@reboot a',
        '# schedd: name=b service overlap=skip instances=0',
        '@reboot b',
        '# schedd: name=c service watch-action=reload',
        '@reboot c',
        '# schedd: name=d service restart=sometimes start-limit=10 stop-signal=FOO reload-signal=KILL service',
        '@reboot d',
        '# schedd: name=e service=yes restart-delay=soon',
        '@reboot e',
        '',
      ].join('\n'),
    );
    const result = await runCli(['check', 'many'], { cwd: tmp.dir });
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.deepEqual(result.stderr.split('\n'), [
      "many:1:18: option 'restart' is for services only (expected 'service' in the entry's options, on an @reboot entry)",
      "many:3:26: option 'overlap' does not apply to a service: it is kept running, not fired at slots",
      "many:3:49: invalid instances '0' (expected a whole number 1-100)",
      'many:5:26: watch-action=reload needs a reload-signal (expected reload-signal=HUP (or another signal))',
      "many:7:34: invalid restart 'sometimes' (expected always|on-failure|never)",
      "many:7:56: invalid start-limit '10' (expected STARTS/WINDOW such as 10/10m)",
      "many:7:71: invalid stop-signal 'FOO' (expected TERM|INT|QUIT|HUP|USR1|USR2|WINCH|KILL)",
      "many:7:89: invalid reload-signal 'KILL' (expected TERM|INT|QUIT|HUP|USR1|USR2|WINCH)",
      "many:7:94: option 'service' is already set for this entry on line 7",
      "many:9:18: option 'service' takes no value (expected service)",
      // Without a valid 'service' the entry is not one, so its service options are errors too.
      "many:9:30: option 'restart-delay' is for services only (expected 'service' in the entry's options, on an @reboot entry)",
      "many:9:44: invalid restart-delay 'soon' (expected a duration such as 90s, 30m, 2h or 1d)",
      'many: 12 errors, 0 warnings',
      '',
    ]);
  });

  it('accepts a valid service entry, and start refuses the invalid one with the same line', async () => {
    tmp.write('good', '# schedd: name=web service restart=on-failure restart-delay=1s start-limit=5/1m stop-timeout=10s reload-signal=HUP instances=2\n@reboot ./web\n');
    assert.deepEqual(await runCli(['check', 'good'], { cwd: tmp.dir }), { code: 0, signal: null, stdout: 'good: ok, 1 service\n', stderr: '' });
    tmp.write('slot2', '# schedd: name=web service\n0 * * * * ./web\n');
    const started = await runCli(['start', '--foreground', '-c', 'slot2', '--state-dir', `${tmp.dir}/state`], { cwd: tmp.dir });
    assert.deepEqual(started, {
      code: 1,
      signal: null,
      stdout: '',
      stderr: "schedd: slot2:1:20: 'service' needs an @reboot entry: a service is kept running, not started at slots (expected @reboot COMMAND on the line below)\nslot2: invalid, schedd did not start\n",
    });
  });
});
