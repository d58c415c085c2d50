// The fault suite's ground truth: a ledger that the jobs themselves append to, never schedd's
// own records. One line per event, appended with O_APPEND (atomic for lines this short):
//   start <job> <scheduled-at ISO> <run id> <pid> <epoch ms>
//   end   <job> <scheduled-at ISO> <run id> <pid> <epoch ms>
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LedgerEvent {
  kind: 'start' | 'end';
  job: string;
  scheduledAt: string;
  run: string;
  pid: number;
  atMs: number;
}

/**
 * A crontab command that writes `start` before `body` and `end` after it, to `ledger`. `body` runs
 * in the same shell (so `exec` in it means no `end` line). Nothing in it contains `%`.
 */
export function ledgerCommand(ledger: string, body = 'true'): string {
  const fields = `$SCHEDD_JOB_ID $SCHEDD_SCHEDULED_AT $SCHEDD_RUN_ID $$ $(date +%s%3N)`.replace(/%/g, '\\%');
  return `echo "start ${fields}" >> ${ledger}; ${body}; echo "end ${fields}" >> ${ledger}`;
}

export function readLedger(ledger: string): LedgerEvent[] {
  if (!existsSync(ledger)) return [];
  return readFileSync(ledger, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [kind, job, scheduledAt, run, pid, atMs] = line.split(' ');
      if ((kind !== 'start' && kind !== 'end') || atMs === undefined) throw new Error(`malformed ledger line: ${JSON.stringify(line)}`);
      return { kind, job: job!, scheduledAt: scheduledAt!, run: run!, pid: Number(pid), atMs: Number(atMs) };
    });
}

/** Slots (job + scheduled instant) that started more than once, with their counts. */
export function doubledSlots(events: readonly LedgerEvent[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const event of events) {
    if (event.kind !== 'start') continue;
    const key = `${event.job} ${event.scheduledAt}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return new Map([...counts].filter(([, count]) => count > 1));
}

const resultsDir = fileURLToPath(new URL('../../../test/faults/results/', import.meta.url));

/**
 * Figures of one scenario's latest run, for the README's Reliability section: written to
 * test/faults/results/<scenario>.json (not committed) and returned as one line for t.diagnostic.
 */
export function reportFigures(scenario: string, figures: Record<string, number | string | boolean>): string {
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${scenario}.json`), `${JSON.stringify({ scenario, date: new Date().toISOString(), ...figures }, null, 2)}\n`);
  const line = `${scenario}: ${Object.entries(figures).map(([key, value]) => `${key}=${value}`).join(' ')}`;
  appendFileSync(join(resultsDir, 'summary.txt'), `${new Date().toISOString()} ${line}\n`);
  return line;
}
