// Shared by the run-history integration tests: the CLI's history as JSON, slots as whole
// seconds, the history file read directly between two daemons.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, type CliResult } from '../helpers/cli.js';
import { hasExited, type Workspace } from '../helpers/daemon.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { RunRecord } from '../../src/store/types.js';
import { waitUntil } from '../helpers/wait.js';

// Tests run from dist/test/history/, fixtures stay in the source tree.
const fixturesDir = fileURLToPath(new URL('../../../test/fixtures/history/', import.meta.url));

export function fixture(name: string): string {
  return join(fixturesDir, name);
}

export const SECOND = 1000;

/** The CLI in the workspace, against its ./state. */
export function cli(ws: Workspace, args: readonly string[]): Promise<CliResult> {
  return runCli([...args, '--state-dir', ws.path('state')], { cwd: ws.dir, env: { HOME: ws.dir, NODE_TEST_CONTEXT: undefined } });
}

/** `schedd history [JOB] --json`, oldest first (the CLI prints newest first). */
export async function history(ws: Workspace, job?: string, limit = 10_000): Promise<RunRecord[]> {
  const result = await cli(ws, ['history', ...(job === undefined ? [] : [job]), '--limit', String(limit), '--json']);
  assert.equal(result.code, 0, `schedd history: ${JSON.stringify(result)}`);
  assert.equal(result.stderr, '');
  return (JSON.parse(result.stdout) as RunRecord[]).reverse();
}

/** What the history file says between two daemons: the last heartbeat and each job's last slot. */
export async function readState(ws: Workspace): Promise<{ heartbeat: number; lastSlots: Map<string, number> }> {
  const store = new SqliteStore(join(ws.path('state'), 'history.db'), { readonly: true });
  try {
    const heartbeat = await store.lastHeartbeat();
    assert.notEqual(heartbeat, null, 'no heartbeat recorded');
    return { heartbeat: heartbeat!, lastSlots: await store.lastSlots() };
  } finally {
    await store.close();
  }
}

/** The records of a job as the history file has them now, oldest first, read in this process. */
export async function readHistory(ws: Workspace, job: string): Promise<RunRecord[]> {
  const store = new SqliteStore(join(ws.path('state'), 'history.db'), { readonly: true });
  try {
    return (await store.history(job, 100_000)).reverse();
  } finally {
    await store.close();
  }
}

/** Polls `check` every 20 ms until it returns a value; rejects at the deadline. */
export async function pollFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  let value: T | undefined;
  await waitUntil(what, async () => (value = await check()) !== undefined, timeoutMs);
  return value!;
}

/** One record as the history file has it now (null when absent), read without a CLI process. */
export async function readRun(ws: Workspace, runId: string): Promise<RunRecord | null> {
  const store = new SqliteStore(join(ws.path('state'), 'history.db'), { readonly: true });
  try {
    return (await store.history(undefined, 100_000)).find((run) => run.runId === runId) ?? null;
  } finally {
    await store.close();
  }
}

/** The first whole second strictly after `ms`. */
export const secondAfter = (ms: number): number => Math.floor(ms / SECOND) * SECOND + SECOND;
/** The last whole second at or before `ms`. */
export const secondAtOrBefore = (ms: number): number => Math.floor(ms / SECOND) * SECOND;

/** Whole seconds from `first` to `last`, inclusive. */
export function seconds(first: number, last: number): number[] {
  const out: number[] = [];
  for (let at = first; at <= last; at += SECOND) out.push(at);
  return out;
}

export const slot = (run: { scheduledAt?: string }): number => Date.parse(run.scheduledAt!);
export const iso = (ms: number): string => new Date(ms).toISOString();

/** Slots missing from a sorted list that should step by one second. */
export function holes(sortedSlots: readonly number[]): string[] {
  const missing: string[] = [];
  for (let i = 1; i < sortedSlots.length; i++) {
    for (let at = sortedSlots[i - 1]! + SECOND; at < sortedSlots[i]!; at += SECOND) missing.push(iso(at));
  }
  return missing;
}

/** Every field of a record, in the order `schedd history --json` prints them. */
export function record(fields: Partial<RunRecord> & Pick<RunRecord, 'runId' | 'job' | 'scheduledAt' | 'outcome'>): RunRecord {
  return {
    runId: fields.runId,
    job: fields.job,
    scheduledAt: fields.scheduledAt,
    startedAt: fields.startedAt ?? null,
    finishedAt: fields.finishedAt ?? null,
    outcome: fields.outcome,
    exitCode: fields.exitCode ?? null,
    signal: fields.signal ?? null,
    durationMs: fields.durationMs ?? null,
    reason: fields.reason ?? null,
    pid: fields.pid ?? null,
    attempt: fields.attempt ?? 1,
  };
}

/** Exact comparison including key order. */
export function assertJson(actual: unknown, expected: unknown, message?: string): void {
  assert.equal(JSON.stringify(actual, null, 1), JSON.stringify(expected, null, 1), message);
}

/** Kills a process group left behind (a job orphaned by a killed daemon) and waits for its leader. */
export async function killGroup(pid: number): Promise<void> {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  await waitUntil(`process ${pid} to be gone`, () => hasExited(pid), 5000);
}

/** Waits, polling the clock, until `ms` has passed. */
export async function waitUntilTime(ms: number): Promise<void> {
  await waitUntil(`the clock to reach ${iso(ms)}`, () => Date.now() >= ms, ms - Date.now() + 5000);
}
