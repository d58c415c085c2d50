import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorText, recorderCommand, scheddBin, sleep, spread, waitUntil, type Spread } from './common.js';
import { readLedger } from './ledger.js';
import { cronCrontab } from './peers/cron.js';
import { peerUnavailable, scheddCrontab, startPeer, type PeerName } from './peers/start.js';
import type { PeerJob } from './peers/types.js';

/**
 * Reload latency: from the moment a crontab with one more job is saved to the moment that job is
 * live. schedd: the 'crontab reloaded' record, then the new job's first start (an every-second
 * job, so that includes up to 1 s of waiting for its slot). cron: the new job's first start; cron
 * only looks at the file's mtime at each minute tick, so that is what the figure measures.
 */

export interface ReloadRow {
  peer: PeerName;
  saves: number;
  how?: string;
  /** Save to the daemon saying it applied the file. */
  applied?: Spread;
  /** Save to the first start of the added job. */
  firstStart?: Spread;
  /** That first start after its own slot (schedd: how late the new job's first slot fired). */
  firstStartLate?: Spread;
  samples?: { appliedMs?: number; firstStartMs: number }[];
  error?: string;
}

const BASE: PeerJob = { label: 'base', schedules: ['0 0 1 1 *'], command: '/bin/true' };

function added(ledger: string, count: number, seconds: boolean): PeerJob[] {
  return Array.from({ length: count }, (_, i) => ({ label: `added-${i}`, schedules: [seconds ? '* * * * * *' : '* * * * *'], command: recorderCommand(ledger, `added-${i}`) }));
}

export async function measureScheddReload(saves: number): Promise<ReloadRow> {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  const ledger = join(dir, 'ledger');
  try {
    const peer = await startPeer('schedd', [BASE], join(dir, 'peer'));
    const samples: { appliedMs: number; firstStartMs: number; lateMs: number }[] = [];
    try {
      const daemon = peer.daemon!;
      for (let i = 0; i < saves; i++) {
        const seen = daemon.records.filter((r) => r.msg === 'crontab reloaded').length;
        // Saved the way editors save: a new file renamed over the old one.
        writeFileSync(`${peer.crontab!}.new`, scheddCrontab([BASE, ...added(ledger, i + 1, true)]));
        const savedAt = Date.now();
        renameSync(`${peer.crontab!}.new`, peer.crontab!);
        const label = `added-${i}`;
        const ok = await waitUntil(() => readLedger(ledger).some((s) => s.label === label), 5, savedAt + 10_000);
        if (!ok) throw new Error(`the job added by save ${i + 1} did not start within 10 s`);
        const reloaded = daemon.records.filter((r) => r.msg === 'crontab reloaded')[seen];
        if (reloaded === undefined) throw new Error(`no 'crontab reloaded' after save ${i + 1}`);
        const start = readLedger(ledger).find((s) => s.label === label)!;
        samples.push({ appliedMs: Date.parse(String(reloaded.time)) - savedAt, firstStartMs: start.atMs - savedAt, lateMs: start.atMs - Math.floor(start.atMs / 1000) * 1000 });
        await sleep(300);
      }
      // `list` reads the file itself, so it shows a saved job at once; check it does.
      const list = JSON.parse(execFileSync(process.execPath, [scheddBin, 'list', '--json', '-c', peer.crontab!, '--state-dir', join(dir, 'peer', 'state')], { encoding: 'utf8' })) as { id: string }[];
      if (!list.some((job) => job.id === `added-${saves - 1}`)) throw new Error('schedd list does not show the added job');
    } finally {
      await peer.stop();
    }
    return {
      peer: 'schedd',
      saves,
      how: 'rename over the crontab; applied = its crontab reloaded record; first start waits for the next whole second',
      applied: spread(samples.map((s) => s.appliedMs)),
      firstStart: spread(samples.map((s) => s.firstStartMs)),
      firstStartLate: spread(samples.map((s) => s.lateMs)),
      samples: samples.map(({ appliedMs, firstStartMs }) => ({ appliedMs, firstStartMs })),
    };
  } catch (error) {
    return { peer: 'schedd', saves, error: errorText(error) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** cron: saves at 10 s, 30 s and 50 s into a minute (then again), each waited out (up to ~60 s). */
export async function measureCronReload(saves: number): Promise<ReloadRow> {
  const why = peerUnavailable('cron');
  if (why !== null) return { peer: 'cron', saves: 0, error: why };
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  const ledger = join(dir, 'ledger');
  try {
    const peer = await startPeer('cron', [BASE], join(dir, 'peer'));
    const samples: { firstStartMs: number }[] = [];
    try {
      for (let i = 0; i < saves; i++) {
        const offsetMs = [10_000, 30_000, 50_000][i % 3]!;
        const now = Date.now();
        let at = Math.floor(now / 60_000) * 60_000 + offsetMs;
        if (at < now + 500) at += 60_000;
        await sleep(at - Date.now());
        // In place: /etc/crontab inside cron's namespace is a bind of this very inode.
        writeFileSync(peer.crontab!, cronCrontab([BASE, ...added(ledger, i + 1, false)]));
        const savedAt = Date.now();
        const label = `added-${i}`;
        const ok = await waitUntil(() => readLedger(ledger).some((s) => s.label === label), 100, savedAt + 75_000);
        if (!ok) throw new Error(`the job added by save ${i + 1} did not start within 75 s`);
        samples.push({ firstStartMs: readLedger(ledger).find((s) => s.label === label)!.atMs - savedAt });
      }
    } finally {
      await peer.stop();
    }
    return {
      peer: 'cron',
      saves,
      how: '/etc/crontab rewritten in place at 10/30/50 s into a minute; cron notices the new mtime at its next minute tick and starts the job then',
      firstStart: spread(samples.map((s) => s.firstStartMs)),
      samples,
    };
  } catch (error) {
    return { peer: 'cron', saves, error: errorText(error) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
