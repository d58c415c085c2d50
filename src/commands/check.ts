import { formatDiagnostic } from '../sources/crontab-file.js';
import { crontabSource, loadCronTables, loadJobSet } from '../sources/load.js';
import type { JobSet } from '../sources/types.js';
import { ExitCode } from '../errors.js';
import { escapeText } from '../terminal.js';

export interface CheckOptions {
  system?: boolean;
}

/**
 * Lints a crontab: every problem on its own line; exit 0 when valid (warnings allowed), 1 when
 * not. The same reading and validation as `start` (loadJobSet): what start refuses, check does.
 */
export async function checkCommand(file: string, displayName: string, options: CheckOptions): Promise<number> {
  return reportSet(await loadJobSet(crontabSource(file, displayName, options.system === true)), displayName);
}

/**
 * `check --cron`: every cron table under the root, as start reads them, one verdict per table
 * (and the crontab too when `-c` names one); exit 1 when any table has an error or is refused.
 */
export async function checkCronCommand(root: string, crontab: { file: string; displayName: string; system: boolean } | null): Promise<number> {
  let failed = 0;
  let jobs = 0;
  const { tables } = await loadCronTables(root);
  if (crontab !== null) {
    const set = await loadJobSet(crontabSource(crontab.file, crontab.displayName, crontab.system));
    tables.unshift({ source: set.source, set, refusal: null });
  }
  let refused = 0;
  for (const table of tables) {
    if (table.set === null) {
      // A table whose user does not exist is skipped, as cron skips it: said, not a failure.
      if (table.waiting !== true) refused++;
      process.stderr.write(`${escapeText(table.refusal ?? '')}\n`);
      continue;
    }
    if ((await reportSet(table.set, table.source.name)) !== ExitCode.ok) failed++;
    else jobs += table.set.entries.length;
  }
  const waiting = tables.filter((table) => table.waiting === true).length;
  const ok = tables.length - failed - refused - waiting;
  const parts = [`${ok} ok`, ...(failed > 0 ? [`${failed} with errors`] : []), ...(refused > 0 ? [`${refused} refused`] : []), ...(waiting > 0 ? [`${waiting} waiting for their user`] : [])];
  const summary = `cron tables under ${root}: ${tables.length} table${tables.length === 1 ? '' : 's'}, ${parts.join(', ')} (${jobs} job${jobs === 1 ? '' : 's'} run)`;
  (failed + refused > 0 ? process.stderr : process.stdout).write(`${escapeText(summary)}\n`);
  return failed + refused > 0 ? ExitCode.failure : ExitCode.ok;
}

async function reportSet(set: JobSet, displayName: string): Promise<number> {
  for (const problem of set.problems) process.stderr.write(`${escapeText(formatDiagnostic(displayName, problem))}\n`);
  const { errorCount: errors, warningCount: warnings } = set;
  // The parser keeps the first diagnostics only (memory stays bounded whatever the file holds).
  const omitted = errors + warnings - set.problems.length;
  if (omitted > 0) process.stderr.write(`${displayName}: ... and ${omitted.toLocaleString('en-US')} more problems not shown\n`);
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (errors > 0) {
    process.stderr.write(`${displayName}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`);
    return ExitCode.failure;
  }
  const note = warnings > 0 ? ` (${plural(warnings, 'warning')})` : '';
  const services = set.entries.filter((entry) => entry.options.service !== undefined).length;
  const jobs = set.entries.length - services;
  const counted = [...(jobs > 0 || services === 0 ? [plural(jobs, 'job')] : []), ...(services > 0 ? [plural(services, 'service')] : [])].join(' and ');
  process.stdout.write(`${escapeText(`${displayName}: ok, ${counted}${note}`)}\n`);
  return ExitCode.ok;
}
