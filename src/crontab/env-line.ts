/**
 * Environment lines, as Vixie cron's load_env reads them: `NAME = value`, blanks allowed around
 * `=`, the value's trailing blanks dropped, and matching single or double quotes around the value
 * removed (they keep blanks and allow an empty value). No `$VAR` expansion.
 */

export interface EnvLine {
  name: string;
  value: string;
  /** 1-based column of the value, for diagnostics about it. */
  valueCol: number;
}

const ENV_LINE = /^(\s*)("[^"]*"|'[^']*'|[^\s=]+)(\s*=\s*)(.*)$/;

/** Returns the setting when the line is an environment line, else null. */
export function parseEnvLine(line: string): EnvLine | null {
  const match = ENV_LINE.exec(line);
  if (match === null) return null;
  const [, lead, rawName, equals, rest] = match as unknown as [string, string, string, string, string];
  let name = rawName;
  if (/^(["']).*\1$/.test(name)) name = name.slice(1, -1);
  let value = rest.replace(/\s+$/, '');
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
    value = value.slice(1, -1);
  }
  return { name, value, valueCol: lead.length + rawName.length + equals.length + 1 };
}
