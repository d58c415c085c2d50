// The log file itself failing: a write error must cost log records, never the daemon.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';

const logModule = new URL('../src/log.js', import.meta.url).href;

describe('log file faults', () => {
  it('regression: a log on a full disk crashed the scheduler, whose exit then retried the write forever (jobs stopped, the watchdog never restarted it)', (t) => {
    // /dev/full fails every write with ENOSPC, like a log on a full file system.
    if (!existsSync('/dev/full')) return t.skip('no /dev/full here');
    const script = `
      import { createLog } from ${JSON.stringify(logModule)};
      const log = createLog({ level: 'info', pretty: false, file: '/dev/full' });
      let ticks = 0;
      const timer = setInterval(() => {
        log.info({ count: ticks }, 'tick');
        if (++ticks === 5) { clearInterval(timer); process.stdout.write('alive after ' + ticks + ' records\\n'); }
      }, 20);
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.deepEqual({ status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr }, { status: 0, signal: null, stdout: 'alive after 5 records\n', stderr: '' });
  });
});
