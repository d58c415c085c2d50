import { errorCount, formatDiagnostic, loadCrontab } from '../crontab-file.js';
import type { Entry } from '../crontab/types.js';
import { ExitCode, ScheddError } from '../errors.js';
import { formatLocal, formatSpan, formatTable } from '../format.js';
import { nextFire } from '../schedule/next-fire.js';
import { formatInstant, systemZone } from '../schedule/zone.js';

export interface ListOptions {
  json?: boolean;
  system?: boolean;
}

export interface JobView {
  id: string;
  line: number;
  schedule: string;
  command: string;
  /** ISO-8601 with offset in the job's zone; null for @reboot and schedules that never fire. */
  next: string | null;
  zone: string;
  user?: string;
}

export function jobView(entry: Entry, nowMs: number, defaultZone: string): JobView & { nextMs: number | null } {
  const zone = entry.zone ?? defaultZone;
  const fire = nextFire(entry.schedule, zone, nowMs);
  return {
    id: entry.id,
    line: entry.line,
    schedule: entry.schedule.text,
    command: entry.stdin === null ? entry.command : `${entry.command}%…`,
    next: fire === null ? null : formatInstant(fire.at, zone),
    nextMs: fire?.at ?? null,
    zone,
    ...(entry.user === undefined ? {} : { user: entry.user }),
  };
}

/** Every job with its next run; works from the file alone, without a daemon. */
export async function listCommand(file: string, displayName: string, options: ListOptions, nowMs: number): Promise<number> {
  const parsed = await loadCrontab(file, { system: options.system === true });
  if (errorCount(parsed) > 0) {
    const lines = parsed.diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(displayName, d));
    throw new ScheddError('SCHEDD_CRONTAB_INVALID', `${lines.join('\n')}\n${displayName}: invalid, run 'schedd check' for details`);
  }
  const zone = systemZone();
  const views = parsed.entries.map((entry) => jobView(entry, nowMs, zone));
  if (options.json) {
    process.stdout.write(`${JSON.stringify(views.map(({ nextMs: _, ...view }) => view), null, 2)}\n`);
    return ExitCode.ok;
  }
  if (views.length === 0) {
    process.stdout.write(`${displayName}: no jobs\n`);
    return ExitCode.ok;
  }
  const rows = [['ID', 'SCHEDULE', 'NEXT', 'COMMAND']];
  for (const view of views) {
    let next = view.schedule === '@reboot' ? 'at boot' : 'never';
    if (view.nextMs !== null) {
      const where = view.zone === zone ? '' : ` ${view.zone}`;
      next = `${formatLocal(view.nextMs, view.zone)}${where} (in ${formatSpan(view.nextMs - nowMs)})`;
    }
    rows.push([view.id, view.schedule, next, view.user === undefined ? view.command : `(${view.user}) ${view.command}`]);
  }
  process.stdout.write(`${formatTable(rows)}\n`);
  return ExitCode.ok;
}
