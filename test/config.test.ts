import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { Command } from 'commander';
import { addDaemonOptions, DAEMON_OPTIONS, defaultCrontabPath, defaultStateDir, fromFlags, toArgv, type DaemonConfig } from '../src/config.js';
import { runCli, tempDir } from './helpers/cli.js';

const tmp = tempDir('schedd-config-');
after(() => tmp.cleanup());

/** The argv as a daemon command parses it, to the config it means. */
function parse(argv: string[]): DaemonConfig {
  const command = addDaemonOptions(new Command('schedd-test')).exitOverride();
  command.parse(argv, { from: 'user' });
  return fromFlags(command.opts());
}

/** Every option set, none at its default. */
const everything: DaemonConfig = {
  crontabPath: '/srv/cron/crontab',
  crontabName: 'cron/crontab',
  stateDir: '/srv/state',
  system: true,
  cron: true,
  cronRoot: '/srv/root',
  sendmail: '/opt/mta/sendmail',
  logLevel: 'debug',
  pretty: false,
  cleanEnv: true,
  maxConcurrent: 3,
  killGraceMs: 1500,
  stopGraceMs: 120_000,
  user: 'alice',
  keepRuns: 7,
  keepDays: 30,
};

describe('daemon config', () => {
  it("a detached child's argv reads back as the config it was written from", () => {
    assert.deepStrictEqual(parse(toArgv(everything)), everything);
  });

  it('the table has one option per config key', () => {
    assert.deepStrictEqual(DAEMON_OPTIONS.map((option) => option.key).sort(), Object.keys(everything).sort());
  });

  it('without options: the default locations and values, and no optional key', () => {
    const defaults: DaemonConfig = {
      crontabPath: defaultCrontabPath(),
      crontabName: defaultCrontabPath(),
      stateDir: defaultStateDir(),
      system: false,
      cron: false,
      cronRoot: '/',
      sendmail: '/usr/sbin/sendmail',
      logLevel: 'info',
      cleanEnv: false,
      maxConcurrent: null,
      killGraceMs: 10_000,
      stopGraceMs: 30_000,
    };
    assert.deepStrictEqual(parse([]), defaults);
    assert.deepStrictEqual(parse(toArgv(defaults)), defaults);
  });

  it('paths become absolute; the crontab keeps the name the user gave it, for messages', () => {
    const config = parse(['-c', 'conf/crontab', '--state-dir', 'state']);
    assert.equal(config.crontabPath, resolve('conf/crontab'));
    assert.equal(config.crontabName, 'conf/crontab');
    assert.equal(config.stateDir, resolve('state'));
  });

  it('every option of the table is in the help of start and restart, but the internal one', async () => {
    for (const command of ['start', 'restart']) {
      const result = await runCli([command, '--help'], { cwd: tmp.dir });
      assert.equal(result.code, 0);
      for (const option of DAEMON_OPTIONS) {
        const long = option.option().long!;
        const hidden = option.option().hidden;
        assert.equal(result.stdout.includes(`${long} `) || result.stdout.includes(`${long}\n`), !hidden, `${command} --help and ${long}`);
      }
    }
  });
});
