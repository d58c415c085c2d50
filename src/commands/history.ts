import { existsSync } from 'node:fs';
import { historyPath } from '../state-dir/paths.js';
import { ExitCode, ScheddError, usageError } from '../errors.js';
import { formatLocal, formatTable } from '../format.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { RunRecord } from '../store/types.js';
import { systemZone } from '../schedule/zone.js';
import { escapeLines, escapeText, terminalJson } from '../terminal.js';

/** Opens the run history for reading (works with or without a daemon: WAL allows readers). */
export function openHistory(stateDir: string): SqliteStore | null {
  const path = historyPath(stateDir);
  if (!existsSync(path)) return null;
  try {
    return new SqliteStore(path, { readonly: true });
  } catch (error) {
    throw new ScheddError('SCHEDD_HISTORY', `cannot read the run history ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** A run's outcome in a few words: `failed (exit 1)`, `timeout (SIGTERM)`. */
export function describe(run: RunRecord): string {
  switch (run.outcome) {
    case 'failed':
      return `failed (exit ${run.exitCode})`;
    case 'killed':
    case 'timeout':
    case 'interrupted':
      return run.signal === null ? run.outcome : `${run.outcome} (${run.signal})`;
    default:
      // A retried run's final row: its failed attempts are the rows RUN.1, RUN.2, ... below it.
      return run.attempt > 1 && run.outcome !== 'running' ? `${run.outcome} (attempt ${run.attempt})` : run.outcome;
  }
}

/** `schedd history [JOB]`: recent runs, newest first. */
export async function historyCommand(stateDir: string, job: string | undefined, options: { limit: number; json?: boolean; table?: string }): Promise<number> {
  if (job !== undefined && options.table !== undefined) throw usageError('a job and --table both given (expected one: a job id already names its table)');
  const store = openHistory(stateDir);
  const runs = (await (options.table === undefined ? store?.history(job, options.limit) : store?.tableHistory(options.table, options.limit))) ?? [];
  await store?.close();
  if (options.json) {
    process.stdout.write(`${terminalJson(runs, 2)}\n`);
    return ExitCode.ok;
  }
  if (runs.length === 0) {
    process.stdout.write(escapeLines(store === null ? `no run history yet (${historyPath(stateDir)})\n` : `no runs recorded${job === undefined ? '' : ` for ${job}`}${options.table === undefined ? '' : ` for table ${options.table}`}\n`));
    return ExitCode.ok;
  }
  const zone = systemZone();
  // A MAIL column once some run shown had mail due (MAILTO): sent, or what went wrong.
  const withMail = runs.some((run) => run.mail !== undefined);
  const rows = [['RUN', 'JOB', 'SCHEDULED', 'STARTED', 'DURATION', 'OUTCOME', ...(withMail ? ['MAIL'] : []), 'REASON']];
  for (const run of runs) {
    rows.push([
      run.runId,
      run.instance === null || run.instance === undefined ? run.job : `${run.job}#${run.instance}`,
      formatLocal(Date.parse(run.scheduledAt), zone),
      run.startedAt === null ? '-' : formatLocal(Date.parse(run.startedAt), zone).slice(11),
      run.durationMs === null ? '-' : `${(run.durationMs / 1000).toFixed(1)}s`,
      describe(run),
      ...(withMail ? [mailText(run)] : []),
      run.reason ?? '',
    ].map((cell) => escapeText(cell)));
  }
  process.stdout.write(`${formatTable(rows)}\n`);
  return ExitCode.ok;
}

/** `sent`, `failed: sendmail exited 75`, or `-` for a run whose mail was not due. */
function mailText(run: RunRecord): string {
  if (run.mail === undefined) return '-';
  return run.mail.status === 'sent' ? 'sent' : `${run.mail.status}${run.mail.detail === '' ? '' : `: ${run.mail.detail}`}`;
}

/**
 * `schedd output JOB [--run ID]`: the captured output of a run (the latest by default). For
 * people, control characters are escaped (see terminal.ts), newlines kept; `raw` gives the bytes.
 */
export async function outputCommand(stateDir: string, job: string, runId: string | undefined, options: { raw?: boolean } = {}): Promise<number> {
  const store = openHistory(stateDir);
  const found = (await store?.output(job, runId)) ?? null;
  await store?.close();
  if (found === null) {
    throw new ScheddError('SCHEDD_NO_OUTPUT', runId === undefined ? `no recorded output for job '${job}'` : `no run '${runId}' of job '${job}'`);
  }
  const { run, output } = found;
  const mail = run.mail === undefined ? '' : run.mail.status === 'sent' ? `, mailed to ${run.mail.detail}` : `, mail ${run.mail.status}: ${run.mail.detail}`;
  process.stderr.write(`${escapeText(`# ${run.job} run ${run.runId}, ${describe(run)}, ${output.bytes} bytes of output${output.truncated ? ' (head and tail shown)' : ''}${mail}`)}\n`);
  const show = (text: string | Buffer): string | Buffer => (options.raw ? text : escapeLines(text.toString()));
  const head = Buffer.from(output.head);
  const tail = Buffer.from(output.tail);
  process.stdout.write(show(head));
  if (tail.length > 0) {
    if (output.truncated) {
      process.stdout.write(`\n[... ${output.bytes - head.length - tail.length} bytes not kept ...]\n`);
      process.stdout.write(show(tail));
    } else {
      // Everything was kept: head and tail overlap; print the part of the tail after the head.
      process.stdout.write(show(tail.subarray(Math.max(0, head.length + tail.length - output.bytes))));
    }
  }
  return ExitCode.ok;
}
