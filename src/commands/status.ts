import { call } from '../control/client.js';
import type { StatusResult } from '../daemon/control-handler.js';
import { socketPath } from '../daemon/pidfile.js';
import { ExitCode, ScheddError } from '../errors.js';
import { formatSpan } from '../format.js';
import { openHistory } from './history.js';

/** `schedd status`: exit 0 when running, 3 when not. */
export async function statusCommand(stateDir: string, options: { json?: boolean }): Promise<number> {
  let status: StatusResult;
  try {
    status = await call<StatusResult>(socketPath(stateDir), { cmd: 'status' });
  } catch (error) {
    if (error instanceof ScheddError && error.exitCode === ExitCode.notRunning) {
      const store = openHistory(stateDir);
      const lastSeen = store?.lastHeartbeat() ?? null;
      const recent = store?.history(undefined, 50).filter((run) => run.outcome !== 'ok' && run.outcome !== 'skipped') ?? [];
      store?.close();
      const seen = lastSeen === null ? null : new Date(lastSeen).toISOString();
      if (options.json) process.stdout.write(`${JSON.stringify({ notRunning: true, stateDir, lastSeen: seen })}\n`);
      else {
        const ago = lastSeen === null ? '' : `; last seen ${formatSpan(Date.now() - lastSeen)} ago`;
        process.stdout.write(`schedd is not running (state directory ${stateDir}${ago})\n`);
        if (recent.length > 0) process.stdout.write(`last problem: ${recent[0]!.job} ${recent[0]!.outcome} at ${recent[0]!.scheduledAt}${recent[0]!.reason === null ? '' : ` (${recent[0]!.reason})`}\n`);
      }
      return ExitCode.notRunning;
    }
    throw error;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return ExitCode.ok;
  }
  const now = Date.now();
  const since = (iso: string): string => formatSpan(now - Date.parse(iso));
  const lines = [
    `schedd is running: pid ${status.pid}${status.schedulerPid !== status.pid ? ` (scheduler ${status.schedulerPid})` : ''}, up ${since(status.startedAt)}`,
    `crontab:     ${status.crontab} (${status.jobs} job${status.jobs === 1 ? '' : 's'})`,
    `state:       ${status.stateDir}`,
  ];
  if (status.lastReload !== null) {
    const outcome = status.lastReload.ok ? 'ok' : `rejected, ${status.lastReload.errors.length} error${status.lastReload.errors.length === 1 ? '' : 's'}`;
    lines.push(`last reload: ${since(status.lastReload.at)} ago, ${outcome}`);
    for (const error of status.lastReload.ok ? [] : status.lastReload.errors) lines.push(`  ${error}`);
  }
  lines.push(`restarts:    ${status.restarts}`);
  if (status.logRecordsDropped > 0) lines.push(`log records dropped: ${status.logRecordsDropped}`);
  if (status.running.length === 0) lines.push('running:     nothing');
  for (const [i, run] of status.running.entries()) lines.push(`${i === 0 ? 'running:     ' : '             '}${run.job} (pid ${run.pid ?? '?'}, for ${since(run.startedAt)})`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return ExitCode.ok;
}
