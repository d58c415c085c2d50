import { call } from '../control/client.js';
import type { StatusResult } from '../control/commands.js';
import { socketPath } from '../state-dir/paths.js';
import { ExitCode, ScheddError } from '../errors.js';
import { formatLocal, formatSpan } from '../format.js';
import { systemZone } from '../schedule/zone.js';
import type { RunRecord } from '../store/types.js';
import { escapeText, terminalJson } from '../terminal.js';
import { describe, openHistory } from './history.js';

/** How many of the latest failed runs `status` shows. */
const FAILURES_SHOWN = 5;

/**
 * The last failed runs, from the history (none when there is no history yet). A history that
 * cannot be read is said so, not shown as no failures; status still answers.
 */
async function recentFailures(stateDir: string): Promise<RunRecord[] | { error: string }> {
  try {
    const store = openHistory(stateDir);
    try {
      return (await store?.recentFailures(FAILURES_SHOWN)) ?? [];
    } finally {
      await store?.close();
    }
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** `failures:    backup failed (exit 1), 5m ago: reason`, one line per run. */
function failureLines(failures: RunRecord[] | { error: string }, since: (iso: string) => string): string[] {
  if (!Array.isArray(failures)) return [`failures:    unknown (${failures.error})`];
  if (failures.length === 0) return ['failures:    none recorded'];
  return failures.map((run, i) => {
    const reason = run.reason === null ? '' : `: ${run.reason}`;
    return `${i === 0 ? 'failures:    ' : '             '}${run.job} ${describe(run)}, ${since(run.finishedAt ?? run.scheduledAt)} ago${reason}`;
  });
}

/**
 * `cron tables: 7 under / (12 jobs, 1 refused)`, then one line per table: its jobs, or why it
 * does not run as its file says.
 */
function cronTableLines(status: StatusResult): string[] {
  const tables = status.sources.filter((source) => source.id !== '');
  const total = tables.reduce((sum, table) => sum + table.jobs, 0);
  const refused = tables.filter((table) => table.problem?.kind === 'refused').length;
  const invalid = tables.filter((table) => table.problem?.kind === 'invalid').length;
  const notes = [`${total} job${total === 1 ? '' : 's'}`, ...(refused > 0 ? [`${refused} refused`] : []), ...(invalid > 0 ? [`${invalid} with errors`] : [])];
  const lines = [`cron tables: ${tables.length} under ${status.cron} (${notes.join(', ')})`];
  const width = Math.min(48, Math.max(0, ...tables.map((table) => table.path.length)));
  for (const table of tables) {
    const problem = table.problem;
    const what =
      problem === undefined
        ? `${table.jobs} job${table.jobs === 1 ? '' : 's'}`
        : problem.kind !== 'invalid'
          ? `${problem.kind === 'refused' ? 'refused' : 'waiting'}, not run: ${withoutPath(problem.messages[0] ?? '', table.path)}`
          : `${problem.count} error${problem.count === 1 ? '' : 's'}, ${table.jobs > 0 ? `its last valid version runs (${table.jobs} job${table.jobs === 1 ? '' : 's'})` : 'not run'}: ${withoutPath(problem.messages[0] ?? '', table.path)}`;
    lines.push(`  ${table.path.padEnd(width)}  ${what}`);
  }
  return lines;
}

/** A table's message without its path in front (the line shows the path already). */
function withoutPath(message: string, path: string): string {
  return message.startsWith(`${path}:`) ? message.slice(path.length + 1).trimStart() : message;
}

/** `schedd status`: exit 0 when running, 3 when not. */
export async function statusCommand(stateDir: string, options: { json?: boolean }): Promise<number> {
  let status: StatusResult;
  try {
    status = await call(socketPath(stateDir), { cmd: 'status' });
  } catch (error) {
    if (error instanceof ScheddError && error.exitCode === ExitCode.notRunning) {
      const store = openHistory(stateDir);
      const lastSeen = (await store?.lastHeartbeat()) ?? null;
      const recent = (await store?.recentFailures(1)) ?? [];
      await store?.close();
      const seen = lastSeen === null ? null : new Date(lastSeen).toISOString();
      if (options.json) process.stdout.write(`${terminalJson({ notRunning: true, stateDir, lastSeen: seen })}\n`);
      else {
        const ago = lastSeen === null ? '' : `; last seen ${formatSpan(Date.now() - lastSeen)} ago`;
        process.stdout.write(`${escapeText(`schedd is not running (state directory ${stateDir}${ago})`)}\n`);
        if (recent.length > 0) process.stdout.write(`${escapeText(`last problem: ${recent[0]!.job} ${recent[0]!.outcome} at ${formatLocal(Date.parse(recent[0]!.scheduledAt), systemZone())}${recent[0]!.reason === null ? '' : ` (${recent[0]!.reason})`}`)}\n`);
      }
      return ExitCode.notRunning;
    }
    throw error;
  }
  const failures = await recentFailures(stateDir);
  if (options.json) {
    process.stdout.write(`${terminalJson({ ...status, lastFailures: Array.isArray(failures) ? failures : null }, 2)}\n`);
    return ExitCode.ok;
  }
  const now = Date.now();
  const since = (iso: string): string => formatSpan(now - Date.parse(iso));
  const lines = [
    `schedd is running: pid ${status.pid}${status.schedulerPid !== status.pid ? ` (scheduler ${status.schedulerPid})` : ''}, up ${since(status.startedAt)}`,
  ];
  const jobs = (n: number): string => `${n} job${n === 1 ? '' : 's'}`;
  if (status.cron === undefined) lines.push(`crontab:     ${status.crontab} (${jobs(status.jobs)})`);
  else {
    const main = status.sources.find((source) => source.id === '');
    if (main !== undefined) lines.push(`crontab:     ${main.path} (${jobs(main.jobs)})`);
    lines.push(...cronTableLines(status));
  }
  lines.push(`state:       ${status.stateDir}`);
  if (status.services !== undefined) {
    const s = status.services;
    const parts = [`${s.running} running`, ...(s.backoff > 0 ? [`${s.backoff} restarting`] : []), ...(s.failed > 0 ? [`${s.failed} failed`] : []), ...(s.stopped > 0 ? [`${s.stopped} stopped`] : [])];
    lines.push(`services:    ${s.count} (${s.instances} instance${s.instances === 1 ? '' : 's'}: ${parts.join(', ')}; see schedd services)`);
  }
  if (status.lastReload !== null) {
    const count = status.lastReload.errorCount ?? status.lastReload.errors.length;
    const outcome = status.lastReload.ok ? 'ok' : `rejected, ${count} error${count === 1 ? '' : 's'}`;
    lines.push(`last reload: ${since(status.lastReload.at)} ago, ${outcome}`);
    for (const error of status.lastReload.ok ? [] : status.lastReload.errors) lines.push(`  ${error}`);
  }
  lines.push(`restarts:    ${status.restarts}`);
  if (status.unsupervisedSince !== null) lines.push(`supervision: none since ${status.unsupervisedSince} (its watchdog exited; schedd restart supervises it again)`);
  if (status.logRecordsDropped > 0) lines.push(`log records dropped: ${status.logRecordsDropped}`);
  if (status.running.length === 0) lines.push('running:     nothing');
  for (const [i, run] of status.running.entries()) lines.push(`${i === 0 ? 'running:     ' : '             '}${run.job} (pid ${run.pid ?? '?'}, for ${since(run.startedAt)})`);
  lines.push(...failureLines(failures, since));
  // Paths, crontab errors and job names can hold anything a crontab can: escaped, line by line.
  process.stdout.write(`${lines.map((line) => escapeText(line)).join('\n')}\n`);
  return ExitCode.ok;
}
