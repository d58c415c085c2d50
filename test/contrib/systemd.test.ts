import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliPath, repoRoot, runCli } from '../helpers/cli.js';
import { parseDuration } from '../../src/crontab/duration.js';

const unitPath = join(repoRoot, 'contrib', 'schedd.service');
const unitText = readFileSync(unitPath, 'utf8');

type Unit = Map<string, Map<string, string[]>>;

/** Sections to keys to every value given (a key may repeat); comments and blank lines dropped. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section !== undefined && eq > 0, `schedd.service:${index + 1}: expected key=value in a section, got '${line}'`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

function value(unit: Unit, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

/** systemd time spans as used here: 60, 60s, 2s, 1min, 500ms. */
function seconds(span: string): number {
  const match = /^(\d+)\s*(ms|s|sec|min|m)?$/.exec(span);
  assert.ok(match, `unsupported time span '${span}'`);
  const n = Number(match[1]);
  return match[2] === 'ms' ? n / 1000 : match[2] === 'min' || match[2] === 'm' ? n * 60 : n;
}

describe('contrib/schedd.service', () => {
  const unit = parseUnit(unitText);

  it('has the three sections and nothing else', () => {
    assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  });

  it('runs `schedd start --foreground` as a simple service', () => {
    assert.equal(value(unit, 'Service', 'Type'), 'simple');
    const execStart = value(unit, 'Service', 'ExecStart') ?? '';
    assert.match(execStart, /^\/usr\/local\/bin\/schedd start --foreground( |$)/);
    assert.match(execStart, / --json-logs( |$)/);
    assert.equal(value(unit, 'Service', 'ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(value(unit, 'Unit', 'After')?.split(/\s+/).includes('network.target'), true);
    assert.equal(value(unit, 'Install', 'WantedBy'), 'multi-user.target');
    assert.ok(value(unit, 'Unit', 'Description'));
    assert.ok(value(unit, 'Unit', 'Documentation'));
  });

  it('stops the whole control group with SIGTERM, and restarts on failure', () => {
    assert.equal(value(unit, 'Service', 'KillMode'), 'control-group');
    assert.equal(value(unit, 'Service', 'KillSignal'), 'SIGTERM');
    assert.equal(value(unit, 'Service', 'Restart'), 'on-failure');
    assert.equal(seconds(value(unit, 'Service', 'RestartSec') ?? ''), 2);
  });

  it("gives schedd's own stop (stop grace + kill grace, from the CLI's defaults) time before systemd's SIGKILL", async () => {
    const help = await runCli(['start', '--help']);
    assert.equal(help.code, 0, help.stderr);
    const text = help.stdout.replace(/\s+/g, ' ');
    // Help shows the defaults as durations (issue 11 item 16: `10s`, not `10000`).
    const stopGraceMs = parseDuration(/--stop-grace <duration> .*?\(default: (\S+?)\)/.exec(text)?.[1] ?? '');
    const killGraceMs = parseDuration(/--kill-grace <duration> .*?\(default: (\S+?)\)/.exec(text)?.[1] ?? '');
    assert.deepEqual([stopGraceMs, killGraceMs], [30_000, 10_000]);
    const timeoutStopSec = seconds(value(unit, 'Service', 'TimeoutStopSec') ?? '');
    assert.ok(timeoutStopSec * 1000 > stopGraceMs! + killGraceMs!, `TimeoutStopSec=${timeoutStopSec}`);
    // The flags ExecStart passes exist.
    for (const flag of ['--foreground', '--json-logs']) assert.ok(help.stdout.includes(flag), flag);
  });

  it('points schedd at the system crontab and state directory', () => {
    const environment = (unit.get('Service')?.get('Environment') ?? []).flatMap((line) => line.split(/\s+/));
    assert.ok(environment.includes('SCHEDD_CRONTAB=/etc/schedd/crontab'), environment.join(' '));
    assert.ok(environment.includes('SCHEDD_STATE_DIR=/var/lib/schedd'), environment.join(' '));
    assert.equal(value(unit, 'Service', 'StateDirectory'), 'schedd');
  });

  it('has no sandboxing that would break root cron jobs', () => {
    const service = unit.get('Service')!;
    for (const key of ['NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'MemoryDenyWriteExecute', 'RestrictSUIDSGID', 'User', 'DynamicUser']) {
      assert.equal(service.has(key), false, `${key}= would break jobs (see the comments in the unit)`);
    }
  });

  it('passes `systemd-analyze verify` (ExecStart pointed at the repository CLI)', (t) => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined) {
      t.skip(`systemd-analyze is not on PATH (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message})`);
      return;
    }
    // verify checks that ExecStart's binary exists and is executable; /usr/local/bin/schedd need not.
    const dir = mkdtempSync(join(tmpdir(), 'schedd-unit-'));
    try {
      const copy = join(dir, 'schedd.service');
      const text = unitText.replace(/^ExecStart=\/usr\/local\/bin\/schedd /m, `ExecStart=${cliPath} `);
      assert.notEqual(text, unitText, 'ExecStart was rewritten');
      writeFileSync(copy, text);
      const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
      // verify exits 0 even for unknown keys or unparsable values, so its warnings count too;
      // lines about other units on this machine do not.
      const ours = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.includes('schedd'));
      assert.deepEqual(ours, [], `systemd-analyze verify:\n${result.stdout}${result.stderr}`);
      assert.equal(result.status, 0, `systemd-analyze verify exited ${String(result.status)}:\n${result.stdout}${result.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
