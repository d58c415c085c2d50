import { call } from '../control/client.js';
import { socketPath } from '../state-dir/paths.js';
import { crontabSource, loadJobSet } from '../sources/load.js';
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
}

/**
 * The daemon's view of the jobs, when a daemon for this state directory runs this crontab (any
 * crontab when `file` is null: the user named none, so the running daemon's is meant).
 */
async function fromDaemon(stateDir: string, file: string | null): Promise<JobView[] | null> {
  try {
    const status = await call(socketPath(stateDir), { cmd: 'status' }, 5000);
    if (file !== null && status.crontab !== file) return null;
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
  let views = await fromDaemon(options.stateDir, options.named ? file : null);
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
    process.stdout.write(`${escapeText(displayName)}: no jobs\n`);
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
  return ExitCode.ok;
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
