import { errorCount, formatDiagnostic, loadCrontab } from '../sources/crontab-file.js';
import { ExitCode } from '../errors.js';
import { escapeText } from '../terminal.js';

export interface CheckOptions {
  system?: boolean;
}

/** Lints a crontab: every problem on its own line; exit 0 when valid (warnings allowed), 1 when not. */
export async function checkCommand(file: string, displayName: string, options: CheckOptions): Promise<number> {
  const parsed = await loadCrontab(file, { system: options.system === true }, displayName);
  for (const d of parsed.diagnostics) process.stderr.write(`${escapeText(formatDiagnostic(displayName, d))}\n`);
  const errors = errorCount(parsed);
  const warnings = parsed.diagnostics.length + (parsed.omitted?.errors ?? 0) + (parsed.omitted?.warnings ?? 0) - errors;
  // The parser keeps the first diagnostics only (memory stays bounded whatever the file holds).
  if (parsed.omitted !== undefined) process.stderr.write(`${displayName}: ... and ${(parsed.omitted.errors + parsed.omitted.warnings).toLocaleString('en-US')} more problems not shown\n`);
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (errors > 0) {
    process.stderr.write(`${displayName}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`);
    return ExitCode.failure;
  }
  const note = warnings > 0 ? ` (${plural(warnings, 'warning')})` : '';
  process.stdout.write(`${escapeText(`${displayName}: ok, ${plural(parsed.entries.length, 'job')}${note}`)}\n`);
  return ExitCode.ok;
}
