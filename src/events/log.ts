import type { Log } from '../log.js';
import type { RunSubscriber } from './run-events.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** How a run's outcome reads in the log: `job failed`, `job timed out`, ... */
function endMessage(outcome: string): string {
  if (outcome === 'ok') return 'job finished';
  return `job ${outcome === 'failed' ? 'failed' : outcome === 'timeout' ? 'timed out' : outcome === 'killed' ? 'killed' : 'could not start'}`;
}

/** The log's wording of run events: every record about runs, its message, level and fields. */
export function logRuns(log: Log): RunSubscriber {
  return {
    pending: (event) => {
      if (event.why === 'queued') log.info({ job: event.job, scheduledAt: iso(event.trigger.scheduledAt) }, 'job queued: previous run still active');
      else if (event.why === 'replacing') log.info({ job: event.job, scheduledAt: iso(event.trigger.scheduledAt), running: event.running }, 'job replacing previous run');
      else if (event.why === 'jitter') log.debug({ job: event.job, run: event.run, delayMs: event.delayMs }, 'job delayed by jitter');
      else log.info({ job: event.job, run: event.run, running: event.running, waiting: event.waiting }, 'job waiting: --max-concurrent reached');
    },
    started: (event) =>
      log.info(
        { job: event.job, run: event.run, pid: event.pid, attempt: event.attempt, scheduledAt: iso(event.trigger.scheduledAt), lateMs: event.startedAt - event.trigger.scheduledAt },
        'job started',
      ),
    output: (event) => {
      const instance = event.instance === undefined ? {} : { instance: event.instance };
      if ('line' in event) log.info({ job: event.job, run: event.run, ...instance, stream: event.stream, line: event.line }, 'job output');
      else log.warn({ job: event.job, run: event.run, ...instance, droppedBytes: event.droppedBytes }, event.instance === undefined ? 'job output truncated' : 'service output dropped: more than 1 MiB a minute, or lines cut at 64 KiB');
    },
    finished: (event) => {
      const { result } = event;
      const fields = { job: event.job, run: event.run, pid: result.pid, outcome: result.outcome, exitCode: result.exitCode, signal: result.signal, durationMs: Math.round(result.durationMs), attempt: event.attempt };
      if (result.outcome === 'ok') log.info(fields, endMessage(result.outcome));
      else log.warn(result.reason === undefined ? fields : { ...fields, reason: result.reason }, endMessage(result.outcome));
      if (!event.final) log.info({ job: event.job, run: event.run, attempt: event.retry.nextAttempt, delayMs: event.retry.delayMs }, 'job retry scheduled');
    },
    cancelled: (event) => log.info({ job: event.job, run: event.run, reason: event.reason }, 'job run cancelled'),
    notRun: (event) => {
      const { cause } = event;
      if (cause.kind === 'overlap' || cause.kind === 'claim') {
        log.warn({ job: event.job, scheduledAt: iso(event.scheduledAt), reason: cause.why }, `job skipped: ${cause.why}`);
      } else if (cause.kind === 'clock') {
        const { skipped } = cause;
        log.warn(
          { job: event.job, count: skipped.count, reason: skipped.reason, scheduledAt: iso(skipped.firstAt) },
          `slots ${skipped.outcome}: ${skipped.atLeast ? 'at least ' : ''}${skipped.count} between ${iso(skipped.firstAt)} and ${iso(skipped.lastAt)} (${skipped.detail})`,
        );
      } else if (cause.kind === 'lost') {
        const run = cause.record;
        log.warn({ job: run.job, run: run.runId, pid: run.pid, scheduledAt: run.scheduledAt, reason: cause.alive ? 'still running' : 'gone' }, 'run lost: schedd died while it was in flight');
      }
      // 'downtime': recovery logs one line per job for its missed slots, not one per slot.
    },
  };
}
