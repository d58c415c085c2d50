// What the crash scenario checks, apart from how it kills: the jobs' own ledger against the run
// history, given when each scheduler process died. Also a seeded PRNG and the history reader the
// reload storm shares.
import { runCli } from '../helpers/cli.js';
import { hasExited } from '../helpers/daemon.js';
import type { RunRecord } from '../../src/store/types.js';
import { doubledSlots, type LedgerEvent } from './ledger.js';
import { waitUntil } from '../helpers/wait.js';

/** mulberry32: a small seeded PRNG, so a failing run's kill moments can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** SCHEDD_FAULT_SEED when set (to replay a failure), else a fresh one. */
export function faultSeed(): number {
  const given = process.env.SCHEDD_FAULT_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed)) throw new Error(`SCHEDD_FAULT_SEED must be an integer, got ${JSON.stringify(given)}`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

/** Every record of the run history, through `schedd history --json` (no daemon needed). */
export async function readHistory(cwd: string, stateDir: string): Promise<RunRecord[]> {
  const result = await runCli(['history', '--json', '--limit', '1000000', '--state-dir', stateDir], { cwd });
  if (result.code !== 0) throw new Error(`schedd history: ${JSON.stringify(result)}`);
  return JSON.parse(result.stdout) as RunRecord[];
}

/**
 * Waits until every job that wrote `start` has exited. A killed scheduler's jobs live on in their
 * own process groups (as under cron) and write their `end` later.
 */
export async function waitForJobsToEnd(events: () => readonly LedgerEvent[], timeoutMs = 20_000): Promise<void> {
  await waitUntil('every job in the ledger to exit', () => events().every((event) => event.kind === 'end' || hasExited(event.pid)), timeoutMs);
}

/**
 * Run ids start with the base-36 wall-clock ms at which the daemon made them
 * (src/dispatch/job-env.ts), so a run id says which scheduler process made it.
 */
export function runIdTime(runId: string): number {
  return parseInt(runId.slice(0, -4), 36);
}

/** One scheduler process's life: it made the runs with ids between the previous death and its own. */
export interface SchedulerLife {
  /** When it was seen to be gone (after kill -9, or after its clean exit for the last one). */
  diedAt: number;
  killed: boolean;
  /** Runs whose end (any outcome) it logged, as far as the log got out before it died. */
  loggedEnds: ReadonlyMap<string, string>;
}

export interface CrashFigures {
  runs: number;
  ok: number;
  /** Started and in flight when their scheduler was killed: recorded lost. */
  lostInFlight: number;
  /** Of those, jobs that wrote their `end` after their scheduler had died (they live on). */
  endedAfterSchedulerDied: number;
  /** Ended while their scheduler lived, which was killed before it could record the end: lost. */
  unrecordedFinishes: number;
  /** Claimed (committed) but killed before the job's shell ran its first line: lost. */
  claimedNeverStarted: number;
  doubled: number;
  lostFromHistory: number;
}

const RAN = new Set(['running', 'ok', 'failed', 'timeout', 'killed', 'error', 'lost', 'interrupted']);
const END_OUTCOME: Record<string, string> = { 'job finished': 'ok', 'job failed': 'failed', 'job timed out': 'timeout', 'job killed': 'killed', 'job could not start': 'error' };

/** Slots (job + instant) that more than one run claimed in the history, as problems. */
export function doubledClaims(history: readonly RunRecord[]): string[] {
  const claims = new Map<string, string[]>();
  for (const record of history) {
    if (!RAN.has(record.outcome)) continue;
    const key = `${record.job} ${record.scheduledAt}`;
    claims.set(key, [...(claims.get(key) ?? []), record.runId]);
  }
  return [...claims].filter(([, runs]) => runs.length > 1).map(([slot, runs]) => `slot ${slot} claimed by ${runs.length} runs in the history: ${runs.join(', ')}`);
}

export function outcomeOfEndMessage(msg: string): string | undefined {
  return END_OUTCOME[msg];
}

/**
 * The crash invariants, exactly:
 * - no slot (job + instant) started twice in the ledger, nor claimed twice in the history;
 * - every run in the ledger is in the history, same job, slot and pid, and wrote its `end`
 *   (nothing kills jobs here: a kill -9 of schedd leaves them running, as cron does);
 * - no record is left `running`; runs only end `ok` or `lost` (and slots `skipped`/`missed`);
 * - a run recorded `ok` wrote its `end` while its scheduler was alive;
 * - a run whose `end` came after its scheduler died, or that never started, is `lost` (its
 *   scheduler cannot have known it finished), and only a killed scheduler's runs are lost;
 * - a run whose end its scheduler logged is recorded with that outcome: no finish that schedd
 *   reported is lost from the history. A run that ended just before a kill, too late for the
 *   scheduler to log or record it, is lost: that is counted, not hidden.
 */
export function checkCrashInvariants(events: readonly LedgerEvent[], history: readonly RunRecord[], lives: readonly SchedulerLife[]): { problems: string[]; figures: CrashFigures } {
  const problems: string[] = [];
  const figures: CrashFigures = { runs: 0, ok: 0, lostInFlight: 0, endedAfterSchedulerDied: 0, unrecordedFinishes: 0, claimedNeverStarted: 0, doubled: 0, lostFromHistory: 0 };
  const doubled = doubledSlots(events);
  figures.doubled = doubled.size;
  for (const [slot, count] of doubled) problems.push(`slot ${slot} started ${count} times`);

  problems.push(...doubledClaims(history));

  const starts = new Map<string, LedgerEvent>();
  const ends = new Map<string, LedgerEvent>();
  for (const event of events) (event.kind === 'start' ? starts : ends).set(event.run, event);
  figures.runs = starts.size;
  const byId = new Map(history.map((record) => [record.runId, record]));
  for (const [run, start] of starts) {
    const record = byId.get(run);
    if (record === undefined) {
      figures.lostFromHistory++;
      problems.push(`run ${run} (${start.job} ${start.scheduledAt}) is in the ledger but not in the history`);
      continue;
    }
    if (record.job !== start.job || record.scheduledAt !== start.scheduledAt) problems.push(`run ${run}: ledger says ${start.job} ${start.scheduledAt}, history ${record.job} ${record.scheduledAt}`);
    if (record.pid !== null && record.pid !== start.pid) problems.push(`run ${run}: ledger pid ${start.pid}, history pid ${record.pid}`);
    if (!ends.has(run)) problems.push(`run ${run} (${start.job}) started but never wrote its end`);
  }
  for (const run of ends.keys()) if (!starts.has(run)) problems.push(`run ${run} wrote an end without a start`);

  for (const record of history) {
    if (!RAN.has(record.outcome)) continue;
    if (record.outcome !== 'ok' && record.outcome !== 'lost') {
      problems.push(`run ${record.runId} (${record.job}) recorded ${record.outcome}${record.reason === null ? '' : `: ${record.reason}`}`);
      continue;
    }
    const madeAt = runIdTime(record.runId);
    const index = lives.findIndex((life, i) => madeAt <= life.diedAt && (i === 0 || madeAt > lives[i - 1]!.diedAt));
    const life = lives[index];
    if (life === undefined) {
      problems.push(`run ${record.runId} was made at ${new Date(madeAt).toISOString()}, when no scheduler lived`);
      continue;
    }
    const start = starts.get(record.runId);
    const end = ends.get(record.runId);
    const logged = life.loggedEnds.get(record.runId);
    if (logged !== undefined && logged !== record.outcome) problems.push(`run ${record.runId}: scheduler ${index} logged it ${logged}, the history says ${record.outcome}`);
    if (record.outcome === 'ok') {
      figures.ok++;
      if (start === undefined || end === undefined) problems.push(`run ${record.runId} recorded ok, but the ledger has ${start === undefined ? 'no start' : 'no end'}`);
      else if (end.atMs > life.diedAt) problems.push(`run ${record.runId} recorded ok, but it ended ${end.atMs - life.diedAt} ms after its scheduler ${index} died`);
      continue;
    }
    // Lost.
    if (!life.killed) problems.push(`run ${record.runId} (${record.job}) recorded lost, but its scheduler ${index} was not killed`);
    if (start === undefined) figures.claimedNeverStarted++;
    else if (end !== undefined && end.atMs <= life.diedAt) figures.unrecordedFinishes++;
    else {
      figures.lostInFlight++;
      if (end !== undefined) figures.endedAfterSchedulerDied++;
    }
  }
  return { problems, figures };
}
