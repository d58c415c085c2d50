// The detached daemon with its state directory on a small file system that fills up, while a
// job prints a lot: once space is freed, the log must not take it all back, and the run
// history must resume.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statfsSync, statSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { waitUntil } from './helpers/wait.js';
import { cleanupAll, Instance } from './helpers/detached.js';
import { fillDisk, unmount } from './helpers/tmpfs.js';

after(cleanupAll);

const DISK_BYTES = 4 * 1024 * 1024;

function free(dir: string): number {
  const fs = statfsSync(dir);
  return fs.bavail * fs.bsize;
}

describe('a full disk under the state directory', () => {
  it('regression (issue 11 item 15): job output in the log refilled the disk once space was freed, and the run history never resumed', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('mounting a tmpfs needs root');
    const instance = new Instance();
    mkdirSync(instance.stateDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES},mode=0700`, 'tmpfs', instance.stateDir]);
    t.after(async () => {
      await instance.stop(['--timeout', '5s']).catch(() => undefined);
      unmount(instance.stateDir);
      await instance.cleanup();
    });
    const ledger = instance.path('ledger');
    // chatty logs ~200 KiB a second (and keeps 32 KiB of it per run in the history, 5 runs
    // kept); tick marks each second in a ledger outside the state. The disk is below the log's
    // 8 MiB reserve floor, so once schedd looks at it no job output is logged.
    const line = 'c'.repeat(150);
    instance.write(
      'crontab',
      [
        '# schedd: name=tick',
        `* * * * * * echo "$SCHEDD_SCHEDULED_AT" >> ${ledger}`,
        '# schedd: name=chatty',
        `* * * * * * i=0; while [ $i -lt 1300 ]; do echo ${line}; i=$((i+1)); done`,
        '',
      ].join('\n'),
    );
    await instance.started(['--keep-runs', '5']);
    const ticks = (): number => {
      try {
        return readFileSync(ledger, 'utf8').split('\n').filter((l) => l !== '').length;
      } catch {
        return 0;
      }
    };
    await waitUntil('2 ticks', () => ticks() >= 2, 15_000);

    const filler = instance.path('state/filler');
    fillDisk(filler);
    const atFull = ticks();
    await waitUntil('8 ticks on the full disk', () => ticks() >= atFull + 8, 20_000);
    rmSync(filler);
    const freedAt = Date.now();

    // The history is retried every 30 s: within 45 s, runs slotted after the freeing are in it.
    const recordedSince = async (sinceMs: number): Promise<number> => {
      const result = await instance.cli(['history', 'tick', '--json', '--limit', '1000', '--state-dir', instance.stateDir]);
      if (result.code !== 0) return 0;
      return (JSON.parse(result.stdout) as { scheduledAt: string; outcome: string }[]).filter((r) => Date.parse(r.scheduledAt) > sinceMs && r.outcome === 'ok').length;
    };
    // On failure: what is on the disk, and what schedd said apart from the runs.
    const interesting = (): string =>
      `${execFileSync('ls', ['-la', instance.stateDir], { encoding: 'utf8' })}free ${free(instance.stateDir)}\n${instance
        .records()
        .filter((r) => r.msg !== 'job output' && !r.msg.startsWith('job '))
        .map((r) => JSON.stringify(r))
        .join('\n')}`;
    let lowest = free(instance.stateDir);
    const giveUpAt = Date.now() + 45_000;
    while ((await recordedSince(freedAt)) === 0) {
      lowest = Math.min(lowest, free(instance.stateDir));
      assert.ok(Date.now() < giveUpAt, `no run slotted after the disk was freed reached the history in 45 s\n${interesting()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // And it keeps recording, while chatty keeps printing, with room left on the disk.
    const resumedAt = Date.now();
    const atResume = ticks();
    while (ticks() < atResume + 8) {
      lowest = Math.min(lowest, free(instance.stateDir));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok((await recordedSince(resumedAt + 2_000)) >= 3, `the history stopped recording again\n${interesting()}`);
    const stopped = await instance.stop();
    assert.equal(stopped.code, 0, JSON.stringify(stopped));

    const records = instance.records();
    assert.ok(lowest > 64 * 1024, `the disk was refilled: ${lowest} bytes free at the lowest`);
    assert.ok(statSync(instance.logPath).size < DISK_BYTES * 0.95, `log size ${statSync(instance.logPath).size}`);
    assert.ok(records.some((r) => r.msg === 'the disk holding the log is nearly full: job output is not logged (the run history keeps the room)'), 'no low-space record');
    const dropped = records.filter((r) => r.msg === 'log records dropped');
    assert.ok(dropped.length >= 1 && dropped.every((r) => (r.count ?? 0) > 0), JSON.stringify(dropped));
  });
});
