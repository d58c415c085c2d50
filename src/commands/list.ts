import { call } from '../control/client.js';
import { socketPath } from '../state-dir/paths.js';
import { crontabSource, loadCronTables, loadJobSet } from '../sources/load.js';
import type { SkippedFile } from '../sources/cron-tables.js';
import { ExitCode, ScheddError } from '../errors.js';
import { formatLocal, formatSpan, formatTable } from '../format.js';
import { jobView, lastRunView, type JobView } from '../job-view.js';
import { openHistory } from './history.js';
import { systemZone } from '../schedule/zone.js';
import { escapeText, terminalJson } from '../terminal.js';

export interface ListOptions {
  json?: boolean;
  system?: boolean;
  stateDir: string;
  /** `--cron`: the cron root whose tables are listed; null without. */
  cron?: string | null;
  /** With cron: also the files that are not tables, and the refused tables. */
  all?: boolean;
}

/**
 * The daemon's view of the jobs, when a daemon for this state directory runs this crontab (any
 * crontab when `file` is null: the user named none, so the running daemon's is meant).
 */
async function fromDaemon(stateDir: string, file: string | null, cron: string | null): Promise<JobView[] | null> {
  try {
    const status = await call(socketPath(stateDir), { cmd: 'status' }, 5000);
    if (file !== null && status.crontab !== file) return null;
    if (cron !== null && status.cron !== cron) return null;
    return await call(socketPath(stateDir), { cmd: 'list' }, 30_000);
  } catch (error) {
    if (error instanceof ScheddError) return null;
    throw error;
  }
}

/**
 * Every job with its next run; adds run state when the daemon answers, works without one.
 * Without -c (`named` false) a running daemon's crontab is listed, else the default one.
 */
export async function listCommand(file: string, displayName: string, options: ListOptions & { named: boolean }, nowMs: number): Promise<number> {
  const cron = options.cron ?? null;
  let views = await fromDaemon(options.stateDir, options.named ? file : null, cron);
  let extra: { skipped: SkippedFile[]; refused: { path: string; reason: string }[] } | null = null;
  if (cron !== null && (views === null || options.all === true)) {
    // The tables as start reads them; a refused or invalid one is said, the others listed.
    const { tables, skipped } = await loadCronTables(cron);
    const refused: { path: string; reason: string }[] = [];
    const own: JobView[] = [];
    const zone = systemZone();
    if (options.named) {
      const set = await loadJobSet(crontabSource(file, displayName, options.system === true));
      tables.unshift({ source: set.source, set, refusal: null });
    }
    for (const table of tables) {
      if (table.set === null) refused.push({ path: table.source.path, reason: table.refusal ?? '' });
      else if (table.set.errorCount > 0) refused.push({ path: table.source.path, reason: `${table.set.errorCount} error${table.set.errorCount === 1 ? '' : 's'}, first: ${table.set.errors[0] ?? ''} (schedd check --cron shows them all)` });
      else for (const entry of table.set.entries) own.push(withoutNext(jobView(entry, nowMs, entry.zone ?? zone)));
    }
    views ??= own;
    extra = { skipped, refused };
    if (options.all !== true && !options.json) for (const problem of refused) process.stderr.write(`${escapeText(`schedd: not listed: ${problem.reason}`)}\n`);
  }
  if (options.json && options.all === true) {
    process.stdout.write(`${terminalJson({ jobs: views, skipped: extra?.skipped ?? [], refused: extra?.refused ?? [] }, 2)}\n`);
    return ExitCode.ok;
  }
  if (views === null) {
    // What start would refuse is refused here too (the same loadJobSet).
    const set = await loadJobSet(crontabSource(file, displayName, options.system === true));
    if (set.errorCount > 0) throw new ScheddError('SCHEDD_CRONTAB_INVALID', `${set.errors.join('\n')}\n${displayName}: invalid, run 'schedd check' for details`);
    const zone = systemZone();
    // No daemon: the last runs still come from the history, if there is one.
    const store = openHistory(options.stateDir);
    const recorded = store !== null && (await store.crontab()) === file ? await store.lastRuns() : null;
    await store?.close();
    views = set.entries.map((entry) => {
      const { nextMs: _, ...view } = jobView(entry, nowMs, entry.zone ?? zone);
      if (recorded === null) return view;
      return { ...view, lastRun: lastRunView(recorded.get(entry.id)) };
    });
  }
  if (options.json) {
    process.stdout.write(`${terminalJson(views, 2)}\n`);
    return ExitCode.ok;
  }
  if (views.length === 0) {
    process.stdout.write(`${escapeText(cron === null ? displayName : `cron tables under ${cron}`)}: no jobs\n`);
    if (extra !== null && options.all === true) process.stdout.write(allLines(extra));
    return ExitCode.ok;
  }
  const withRuns = views.some((view) => view.lastRun !== undefined);
  const zone = systemZone();
  const rows = [['ID', 'SCHEDULE', 'NEXT', ...(withRuns ? ['LAST RUN'] : []), 'COMMAND']];
  for (const view of views) {
    let next = view.service !== undefined ? serviceText(view.service) : view.schedule === '@reboot' ? 'at boot' : 'never';
    if (view.next !== null) {
      const nextMs = Date.parse(view.next);
      const where = view.zone === zone ? '' : ` ${view.zone}`;
      next = `${formatLocal(nextMs, view.zone)}${where} (in ${formatSpan(nextMs - nowMs)})`;
    }
    // The table shows that a job has input, not the input (--json carries it whole).
    const shown = view.input === null ? view.command : `${view.command}%…`;
    const command = view.user === undefined ? shown : `(${view.user}) ${shown}`;
    rows.push([view.id, view.schedule, next, ...(withRuns ? [lastRunText(view, nowMs)] : []), command].map((cell) => escapeText(cell)));
  }
  process.stdout.write(`${formatTable(rows)}\n`);
  if (extra !== null && options.all === true) process.stdout.write(allLines(extra));
  return ExitCode.ok;
}

/** `--all`: the files cron skips and the tables it would refuse, after the jobs. */
function allLines(extra: { skipped: SkippedFile[]; refused: { path: string; reason: string }[] }): string {
  const lines = [
    ...extra.skipped.map((file) => `skipped: ${file.path}: ${file.reason}`),
    ...extra.refused.map((table) => `not run: ${table.reason}`),
  ];
  return lines.length === 0 ? '' : `\n${lines.map((line) => escapeText(line)).join('\n')}\n`;
}

function withoutNext(view: JobView & { nextMs: number | null }): JobView {
  const { nextMs: _, ...rest } = view;
  return rest;
}

function lastRunText(view: JobView, nowMs: number): string {
  if (view.running) return 'running';
  const last = view.lastRun;
  if (last === null || last === undefined) return '-';
  const how = last.outcome === 'ok' ? 'ok' : last.outcome === 'failed' ? `failed (${last.exitCode})` : last.signal === null ? last.outcome : `${last.outcome} (${last.signal})`;
  return `${how}, ${formatSpan(nowMs - Date.parse(last.finishedAt))} ago`;
}

/** A service's NEXT cell: it is kept running, not fired (`service, 2/3 up` from a daemon). */
function serviceText(service: NonNullable<JobView['service']>): string {
  const copies = service.instances === 1 ? '' : ` x${service.instances}`;
  return service.up === undefined ? `service${copies}` : `service, ${service.up}/${service.instances} up`;
}
