import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchDaemon } from './daemon.js';

/** From saving a new crontab (rename over the old one) to the daemon logging it live. */
export async function measureReload(repeats: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-bench-'));
  const crontab = join(dir, 'crontab');
  writeFileSync(crontab, '0 0 1 1 * /usr/bin/true first\n');
  const daemon = new BenchDaemon(crontab, join(dir, 'state'));
  const latencies: number[] = [];
  try {
    await daemon.waitFor('schedd started');
    for (let i = 0; i < repeats; i++) {
      const seen = daemon.records.filter((r) => r.msg === 'crontab reloaded').length;
      writeFileSync(`${crontab}.new`, `0 0 1 1 * /usr/bin/true first\n* * * * * /usr/bin/true added-${i}\n`);
      const savedAt = Date.now();
      renameSync(`${crontab}.new`, crontab);
      while (daemon.records.filter((r) => r.msg === 'crontab reloaded').length === seen) await new Promise((resolve) => setTimeout(resolve, 5));
      const record = daemon.records.filter((r) => r.msg === 'crontab reloaded')[seen]!;
      latencies.push(Date.parse(String(record.time)) - savedAt);
    }
    return latencies;
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
