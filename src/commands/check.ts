import { formatDiagnostic } from '../sources/crontab-file.js';
import { crontabSource, loadJobSet } from '../sources/load.js';
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
  const set = await loadJobSet(crontabSource(file, displayName, options.system === true));
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
