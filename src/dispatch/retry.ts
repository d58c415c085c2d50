import { backoffDelayMs, RETRY_BACKOFF } from '../backoff.js';
import { formatDuration } from '../crontab/duration.js';
import type { Retry } from '../events/run-events.js';
import type { RunResult } from '../runner/index.js';

/**
 * Whether attempt `attempt` of run `runId`, which ended with `result`, is retried, and how: a
 * failure, a timeout or a start error is, while retries are left (`retries=N` allows N more
 * attempts), after 1 s, doubling, at most 10 minutes. Decided once, here: the finished event
 * carries it (final or not) to every subscriber.
 */
export function retryAfter(runId: string, attempt: number, retries: number, result: RunResult): Retry | null {
  const retriable = result.outcome === 'failed' || result.outcome === 'timeout' || result.outcome === 'error';
  if (!retriable || attempt > retries) return null;
  const delayMs = backoffDelayMs(RETRY_BACKOFF, attempt);
  const how = result.outcome === 'failed' ? `failed (exit ${result.exitCode})` : result.outcome === 'timeout' ? (result.reason ?? 'timed out') : `could not start: ${result.reason ?? 'error'}`;
  return { attemptId: `${runId}.${attempt}`, delayMs, reason: `attempt ${attempt}/${retries + 1} ${how}; retried after ${formatDuration(delayMs)}`, nextAttempt: attempt + 1 };
}
