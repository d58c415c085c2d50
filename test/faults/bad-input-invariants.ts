// What every parse of every generated crontab must satisfy, whatever the input.
import { parseCrontab } from '../../src/crontab/parse.js';
import type { ParsedCrontab } from '../../src/crontab/types.js';
import { validatePattern } from '../../src/schedule/evaluator.js';

export interface ParseFigures {
  errors: number;
  warnings: number;
  entries: number;
}

/** Patterns croner has already accepted: the same few hundred shapes recur across the corpus. */
const schedulable = new Set<string>();

/** The lines as the parser numbers them: a final newline does not start another line. */
export function numberedLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * Parses `text` and returns its figures, or throws an Error naming the broken invariant:
 * the parser threw; a diagnostic without a line and column inside the file; a message that is
 * not one line; an entry on a line with an error, or on a comment; duplicate ids; an accepted
 * schedule that croner (which the daemon hands it to) rejects.
 */
export function checkParse(text: string, system: boolean): ParseFigures {
  let parsed: ParsedCrontab;
  try {
    parsed = parseCrontab(text, { system });
  } catch (error) {
    throw new Error(`parseCrontab threw: ${(error as Error).stack}`);
  }
  const lines = numberedLines(text);
  let errors = 0;
  for (const d of parsed.diagnostics) {
    const where = `diagnostic ${JSON.stringify(d)}`;
    if (!Number.isInteger(d.line) || d.line < 1 || d.line > lines.length) throw new Error(`${where}: line outside 1-${lines.length}`);
    const width = lines[d.line - 1]!.length;
    if (!Number.isInteger(d.col) || d.col < 1 || d.col > width + 1) throw new Error(`${where}: column outside 1-${width + 1}`);
    if (d.severity !== 'error' && d.severity !== 'warning') throw new Error(`${where}: severity`);
    if (d.message.length === 0 || d.message.includes('\n')) throw new Error(`${where}: message is not one line`);
    if (d.expected !== undefined && (d.expected.length === 0 || d.expected.includes('\n'))) throw new Error(`${where}: expected is not one line`);
    if (d.severity === 'error') errors++;
  }
  const errorLines = new Set(parsed.diagnostics.filter((d) => d.severity === 'error').map((d) => d.line));
  const ids = new Set<string>();
  for (const entry of parsed.entries) {
    const where = `entry ${entry.id} on line ${entry.line}`;
    if (!Number.isInteger(entry.line) || entry.line < 1 || entry.line > lines.length) throw new Error(`${where}: line outside the file`);
    if (errorLines.has(entry.line)) throw new Error(`${where}: accepted although its line has an error`);
    const source = lines[entry.line - 1]!.trimStart();
    if (source === '' || source.startsWith('#')) throw new Error(`${where}: accepted from a blank or comment line`);
    if (entry.command.trim() === '') throw new Error(`${where}: empty command`);
    if (entry.id === '' || ids.has(entry.id)) throw new Error(`${where}: id empty or not unique`);
    ids.add(entry.id);
    if (entry.schedule.kind === 'cron' && entry.schedule.never !== true) {
      const key = `${entry.schedule.pattern} ${entry.schedule.domAndDow}`;
      if (!schedulable.has(key)) {
        try {
          validatePattern(entry.schedule);
        } catch (error) {
          throw new Error(`${where}: accepted schedule '${entry.schedule.text}' (${entry.schedule.pattern}) is rejected by croner: ${(error as Error).message}`);
        }
        schedulable.add(key);
      }
    }
  }
  return { errors, warnings: parsed.diagnostics.length - errors, entries: parsed.entries.length };
}
