/**
 * Vixie cron's `%` rule: the first unescaped `%` ends the command; the rest is the job's
 * standard input, each further unescaped `%` a newline, with a final newline added. `\%` is a
 * literal `%` in both parts; other backslashes are kept as written.
 */
export function splitCommand(raw: string): { command: string; stdin: string | null } {
  let command = '';
  let i = 0;
  for (; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '\\' && raw[i + 1] === '%') {
      command += '%';
      i++;
    } else if (ch === '%') {
      break;
    } else {
      command += ch;
    }
  }
  if (i >= raw.length) return { command, stdin: null };
  let stdin = '';
  for (i++; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '\\' && raw[i + 1] === '%') {
      stdin += '%';
      i++;
    } else {
      stdin += ch === '%' ? '\n' : ch;
    }
  }
  return { command, stdin: `${stdin}\n` };
}
