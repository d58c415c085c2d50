import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliPath, repoRoot } from '../helpers/cli.js';

const unitText = readFileSync(join(repoRoot, 'contrib', 'schedd-cron.service'), 'utf8');

/** `Key=value` lines of a section, later ones last. */
function values(section: string, key: string): string[] {
  const body = unitText.split(/^\[/m).find((part) => part.startsWith(`${section}]`)) ?? '';
  return body
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

describe('contrib/schedd-cron.service (replaces cron.service)', () => {
  it('runs the machine cron tables in the foreground, never beside cron', () => {
    assert.deepEqual(values('Service', 'ExecStart'), ['/usr/local/bin/schedd start --foreground --json-logs --cron']);
    assert.deepEqual(values('Unit', 'Conflicts'), ['cron.service crond.service']);
    assert.deepEqual(values('Service', 'KillMode'), ['process']);
    assert.deepEqual(values('Service', 'ExecReload'), ['/bin/kill -HUP $MAINPID']);
  });

  it('passes `systemd-analyze verify` (ExecStart pointed at the repository CLI)', (t) => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined) return t.skip('systemd-analyze is not on PATH');
    const dir = mkdtempSync(join(tmpdir(), 'schedd-unit-'));
    try {
      const copy = join(dir, 'schedd-cron.service');
      writeFileSync(copy, unitText.replace(/^ExecStart=\/usr\/local\/bin\/schedd /m, `ExecStart=${cliPath} `));
      const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
      const ours = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.includes('schedd'));
      assert.deepEqual(ours, [], `${result.stdout}${result.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
