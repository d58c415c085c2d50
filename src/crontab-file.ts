import { readFile } from 'node:fs/promises';
import { ScheddError } from './errors.js';
import { parseCrontab } from './crontab/parse.js';
import type { Diagnostic, ParseOptions, ParsedCrontab } from './crontab/types.js';

/** Reads a crontab file, turning the usual failures into one clear line. */
export async function readCrontabText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file (create it, or name another with -c FILE)'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory, not a crontab file'
            : (error as Error).message;
    throw new ScheddError('SCHEDD_CRONTAB_UNREADABLE', `cannot read crontab ${path}: ${why}`, { cause: error });
  }
}

export async function loadCrontab(path: string, options: ParseOptions = {}): Promise<ParsedCrontab> {
  return parseCrontab(await readCrontabText(path), options);
}

/** `FILE:LINE:COL: message (expected ...)`, with `warning: ` before warnings. */
export function formatDiagnostic(file: string, d: Diagnostic): string {
  const expected = d.expected === undefined ? '' : ` (expected ${d.expected})`;
  const severity = d.severity === 'warning' ? 'warning: ' : '';
  return `${file}:${d.line}:${d.col}: ${severity}${d.message}${expected}`;
}

export function errorCount(parsed: ParsedCrontab): number {
  return parsed.diagnostics.filter((d) => d.severity === 'error').length;
}
