import { parseSchedule } from '../crontab/schedule-expr.js';
import { formatDiagnostic } from '../sources/crontab-file.js';
import { ExitCode, usageError } from '../errors.js';
import { nextFires } from '../schedule/next-fire.js';
import { formatInstant, isValidZone, offsetAt, systemZone } from '../schedule/zone.js';
import { escapeText } from '../terminal.js';

export interface NextOptions {
  count: number;
  tz?: string;
  from?: string;
}

/** An ISO-8601 time; without an offset it is read as wall time in the zone. */
export function parseFrom(text: string, zone: string): number {
  const hasOffset = /(Z|[+-]\d\d:?\d\d)$/i.test(text);
  const parsed = Date.parse(hasOffset ? text : `${text}Z`);
  if (Number.isNaN(parsed)) throw usageError(`invalid --from '${text}' (expected an ISO-8601 time such as 2026-03-08T01:30 or 2026-03-08T06:30:00Z)`);
  return hasOffset ? parsed : parsed - offsetAt(zone, parsed - offsetAt(zone, parsed));
}

/** Prints the next fire times of a schedule expression, one ISO-8601 time per line. */
export function nextCommand(expression: string, options: NextOptions, nowMs: number): number {
  const zone = options.tz ?? systemZone();
  if (!isValidZone(zone)) throw usageError(`unknown time zone '${zone}' (expected an IANA zone such as Europe/London)`);
  if (!Number.isInteger(options.count) || options.count < 1) throw usageError(`invalid -n '${options.count}' (expected a whole number of 1 or more)`);
  const from = options.from === undefined ? nowMs : parseFrom(options.from, zone);
  const { expr, diagnostics } = parseSchedule(expression);
  for (const d of diagnostics) process.stderr.write(`${escapeText(formatDiagnostic('expression', d))}\n`);
  if (expr === null) return ExitCode.usage;
  if (expr.kind === 'reboot') {
    process.stdout.write('@reboot runs once per boot, at daemon start: it has no times\n');
    return ExitCode.ok;
  }
  const fires = nextFires(expr, zone, from, options.count);
  if (fires.length === 0) process.stderr.write(`'${escapeText(expression)}' never fires\n`);
  for (const fire of fires) {
    const note = fire.shifted === 'dst-gap' ? `  (slot ${new Date(fire.slotWall).toISOString().slice(11, 19)} is in the DST gap)` : '';
    process.stdout.write(`${formatInstant(fire.at, zone)}${note}\n`);
  }
  return ExitCode.ok;
}
