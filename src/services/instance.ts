/*
 * One instance of a service, as a state machine:
 *
 *   stopped --start--> starting --(up STARTING_MS)--> running
 *   starting/running --exit not asked for--> backoff --delay--> starting
 *                                        \-> failed (start limit) --retry-after--> starting
 *                                        \-> stopped (restart=never, on-failure and exit 0)
 *   starting/running --stop or restart asked--> stopping --exit--> stopped, or starting again
 *
 * An exit schedd asked for (a stop, a restart, an edit, a watched file, the lifetime) is not
 * a failure: it neither backs off nor counts towards the start limit. Every start and exit is
 * a row of the history (the instance's run), and every start leaves a record in the state
 * directory (adoption.ts) so that a scheduler started after this one dies finds the process.
 */
import { closeSync } from 'node:fs';
import { backoffDelayMs, failuresInARow } from '../backoff.js';
import { formatDuration } from '../crontab/duration.js';
import { newRunId } from '../dispatch/job-env.js';
import type { RunEvents } from '../events/run-events.js';
import type { Log } from '../log.js';
import type { RunHandle, RunOutcome, RunResult } from '../runner/index.js';
import { childrenOf, killGroup, liveMembers, terminateGroup } from '../runner/process-group.js';
import type { SafeStore } from '../store/safe-store.js';
import type { FinishedRun } from '../store/types.js';
import { bootId, isRecordedProcess, removeInstanceRecord, startTicks, writeInstanceRecord, type InstanceRecord } from './adoption.js';
import { openOutputFiles, removeOutputFiles, ServiceOutput } from './output.js';
import type { ServiceSpec } from './spec.js';

export type InstanceState = 'starting' | 'running' | 'backoff' | 'stopping' | 'failed' | 'stopped';

/** A process up this long (or `stable=`, if shorter) is running, not starting. */
const STARTING_MS = 1000;
/** How often an adopted process (not this scheduler's child: no exit event) is looked for. */
const ADOPTED_POLL_MS = 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What an instance is started from: the service's current definition. */
export interface ServiceDefinition {
  id: string;
  spec: ServiceSpec;
  key: string;
  /** The command is a shell script of several commands: the process is that shell, not the program. */
  readonly wrapped: boolean;
}

export interface InstanceContext {
  stateDir: string;
  log: Log;
  store: SafeStore;
  events: RunEvents;
  /** Starts the instance's process, its output to the given descriptors. */
  spawn(instance: number, runId: string, startedAt: number, output: { stdout: number; stderr: number }): RunHandle;
  /** The process reached its maximum lifetime: restart it (the manager does so one instance at a time). */
  lifetimeOver(instance: Instance, reason: string): void;
}

export interface LastExit {
  at: number;
  exitCode: number | null;
  signal: string | null;
  reason: string;
}

export interface InstanceView {
  state: InstanceState;
  pid: number | null;
  startedAt: number | null;
  restarts: number;
  nextTryAt: number | null;
  lastExit: LastExit | null;
  /** The definition the running process was started from (null when none runs). */
  key: string | null;
}

/** Why schedd ends a process: each reads in the log and the history as the reason. */
export interface StopRequest {
  reason: string;
  /** After the exit: start again (a restart) or stay stopped. */
  then: 'start' | 'stop';
}

interface Proc {
  runId: string;
  pid: number;
  startedAt: number;
  startTicks: number;
  key: string;
  /** Null for a process adopted from a scheduler that died: its exit is not ours to see. */
  handle: RunHandle | null;
  output: ServiceOutput | null;
  stop: StopRequest | null;
  /** How a stop asks this process: as it was started (an edit changes the next process's). */
  stopSignal: NodeJS.Signals;
  stopTimeoutMs: number;
  /** Resolves once exited() has dealt with its end (and set what follows). */
  ended: Promise<void>;
  end: () => void;
}

function processEnd(): Pick<Proc, 'ended' | 'end'> {
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  return { ended, end };
}

export class Instance {
  state: InstanceState = 'stopped';
  private proc: Proc | null = null;
  private failures = 0;
  /** Starts that count towards the start limit (not those schedd asked for). */
  private countedStarts: number[] = [];
  private restarts = 0;
  private nextTryAt: number | null = null;
  private lastExit: LastExit | null = null;
  private timer: NodeJS.Timeout | undefined;
  private upTimer: NodeJS.Timeout | undefined;
  private lifetimeTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();
  /** False once stopped on request: no restart until a start. */
  wanted = false;
  /** While what the last process left in its group is being ended (afterExit): nothing starts. */
  private settling: Promise<void> | null = null;
  /** A start asked for while settling: it follows once the group is empty. */
  private startAsked = false;

  constructor(
    readonly index: number,
    private definition: () => ServiceDefinition,
    private readonly context: InstanceContext,
  ) {}

  private get id(): string {
    return this.definition().id;
  }

  view(): InstanceView {
    const proc = this.proc;
    return { state: this.state, pid: proc?.pid ?? null, startedAt: proc?.startedAt ?? null, restarts: this.restarts, nextTryAt: this.nextTryAt, lastExit: this.lastExit, key: proc?.key ?? null };
  }

  get runningKey(): string | null {
    return this.proc?.key ?? null;
  }

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** Resolves once `done(state)` holds (checked now and at every change of state). */
  until(done: (state: InstanceState) => boolean): Promise<InstanceState> {
    if (done(this.state)) return Promise.resolve(this.state);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done(this.state)) return;
        this.waiters.delete(check);
        resolve(this.state);
      };
      this.waiters.add(check);
    });
  }

  private setState(state: InstanceState): void {
    this.state = state;
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Starts the process unless one runs (or is being stopped); a failed or waiting instance starts now. */
  start(why: string): void {
    this.wanted = true;
    if (this.proc !== null) return;
    if (this.settling !== null) {
      this.startAsked = true;
      return;
    }
    clearTimeout(this.timer);
    this.nextTryAt = null;
    // Asked for after the start limit: the crashes before it no longer count.
    if (this.state === 'failed') this.forgetFailures();
    this.spawn(why, true);
  }

  /**
   * A failed instance whose definition was edited (perhaps the fix): started now, with the new
   * one, its crashes forgotten (they were the old definition's). One in backoff starts with the
   * new definition when its delay is over (at most restart-max-delay).
   */
  restartEdited(why: string): void {
    if (this.proc !== null || this.state !== 'failed') return;
    this.forgetFailures();
    this.start(why);
  }

  private forgetFailures(): void {
    this.countedStarts = [];
    this.failures = 0;
  }

  private spawn(why: string, counted: boolean): void {
    const { context } = this;
    const definition = this.definition();
    const now = Date.now();
    if (counted) this.countedStarts.push(now);
    const runId = newRunId(now);
    let output: { stdout: number; stderr: number };
    try {
      output = openOutputFiles(context.stateDir, definition.id, this.index);
    } catch (error) {
      // Not within this call: a restart without delay would recurse until the start limit.
      const reason = `cannot start: cannot open its output files: ${(error as Error).message}`;
      void Promise.resolve().then(() => this.exited(null, { outcome: 'error', exitCode: null, signal: null, reason, durationMs: 0 }, runId, now));
      return;
    }
    let handle: RunHandle;
    try {
      handle = context.spawn(this.index, runId, now, output);
    } finally {
      closeSync(output.stdout);
      closeSync(output.stderr);
    }
    if (handle.pid === null) {
      try {
        removeInstanceRecord(context.stateDir, definition.id, this.index);
      } catch {
        // As in exited: the next scheduler finds the process gone.
      }
      void handle.done.then((result) => this.exited(null, result, runId, now));
      return;
    }
    const pid = handle.pid;
    const { stopSignal, stopTimeoutMs } = definition.spec;
    const proc: Proc = { runId, pid, startedAt: now, startTicks: startTicks(pid) ?? -1, key: definition.key, handle, output: this.openOutput(runId), stop: null, stopSignal, stopTimeoutMs, ...processEnd() };
    this.proc = proc;
    this.recordStart(proc, why);
    void handle.done.then((result) => this.exited(proc, result, runId, now));
  }

  /** Takes over a process a scheduler that died started (its record checked against /proc first). */
  adopt(record: InstanceRecord): void {
    this.wanted = true;
    // Adopted only when its definition is the crontab's: the current stop settings are its own.
    const { stopSignal, stopTimeoutMs } = this.definition().spec;
    const proc: Proc = { runId: record.runId, pid: record.pid, startedAt: record.startedAt, startTicks: record.startTicks, key: record.key, handle: null, output: this.openOutput(record.runId), stop: null, stopSignal, stopTimeoutMs, ...processEnd() };
    this.proc = proc;
    this.context.log.info({ job: this.id, instance: this.index, pid: proc.pid, run: proc.runId, uptimeMs: Date.now() - proc.startedAt }, 'service adopted: its process outlived the scheduler that started it');
    this.becameUp(proc, 0);
    this.poll(proc);
  }

  /** The reader of the instance's output files; none (and an error logged) when they cannot be opened. */
  private openOutput(runId: string): ServiceOutput | null {
    const { context, index } = this;
    const job = this.id;
    try {
      return new ServiceOutput(context.stateDir, job, index, {
        line: (stream, line) => context.events.emit({ type: 'output', job, run: runId, instance: index, stream, line }),
        dropped: (bytes) => context.events.emit({ type: 'output', job, run: runId, instance: index, truncated: true, droppedBytes: bytes }),
      });
    } catch (error) {
      context.log.error({ job, instance: index, run: runId, err: error }, 'service output not logged: cannot open its output files in the state directory');
      return null;
    }
  }

  private recordStart(proc: Proc, why: string): void {
    const { context } = this;
    const record: InstanceRecord = { job: this.id, instance: this.index, runId: proc.runId, pid: proc.pid, startTicks: proc.startTicks, startedAt: proc.startedAt, key: proc.key, bootId: bootId() };
    try {
      writeInstanceRecord(context.stateDir, record);
    } catch (error) {
      context.log.error({ job: this.id, instance: this.index, pid: proc.pid, err: error }, 'cannot record the service instance in the state directory: a scheduler started after a crash would not find it');
    }
    void context.store.serviceStarted(proc.runId, this.id, this.index, proc.pid, proc.startedAt);
    context.log.info({ job: this.id, instance: this.index, pid: proc.pid, run: proc.runId, reason: why }, 'service started');
    this.becameUp(proc, STARTING_MS);
  }

  private becameUp(proc: Proc, startingMs: number): void {
    const spec = this.definition().spec;
    const upAfter = Math.min(startingMs, spec.stableMs);
    this.setState(upAfter === 0 ? 'running' : 'starting');
    if (upAfter > 0) {
      this.upTimer = setTimeout(() => {
        if (this.proc === proc && this.state === 'starting') this.setState('running');
      }, upAfter);
      this.upTimer.unref();
    }
    const lifetime = spec.maxLifetimeMs;
    if (lifetime !== null && lifetime <= MAX_TIMER_MS) {
      const left = Math.max(0, lifetime - (Date.now() - proc.startedAt));
      this.lifetimeTimer = setTimeout(() => this.context.lifetimeOver(this, `restarted: reached its maximum lifetime (timeout=${formatDuration(lifetime)})`), left);
      this.lifetimeTimer.unref();
    }
  }

  /** An adopted process is not our child: its end is seen by looking (pid and start time). */
  private poll(proc: Proc): void {
    this.pollTimer = setTimeout(() => {
      if (this.proc !== proc) return;
      if (isRecordedProcess(proc)) return this.poll(proc);
      this.exited(proc, null, proc.runId, proc.startedAt);
    }, ADOPTED_POLL_MS);
    this.pollTimer.unref();
  }

  /**
   * Ends the process as asked (stop signal to its group, SIGKILL after stop-timeout) and then
   * stays stopped or starts again. Resolves when that is done: stopped, or (a restart) the
   * new process is running, or it did not come up (backoff, failed).
   */
  stop(request: StopRequest): Promise<InstanceState> {
    const proc = this.proc;
    if (request.then === 'stop') this.wanted = false;
    if (proc === null && this.settling !== null) {
      // The last process has exited; what it left is being ended. The request follows that.
      this.startAsked = request.then === 'start';
      if (request.then === 'start') this.wanted = true;
      return this.settling.then(() => (request.then === 'stop' ? this.state : this.until((s) => s !== 'starting' && s !== 'stopping')));
    }
    if (proc === null) {
      clearTimeout(this.timer);
      this.nextTryAt = null;
      if (request.then === 'start') {
        this.start(request.reason);
        return this.until((s) => s !== 'starting');
      }
      this.setState('stopped');
      return Promise.resolve(this.state);
    }
    // A second request while stopping: the later one says what follows.
    const first = proc.stop === null;
    proc.stop = request;
    if (first) {
      clearTimeout(this.lifetimeTimer);
      this.setState('stopping');
      this.context.log.info({ job: this.id, instance: this.index, pid: proc.pid, reason: request.reason, signal: proc.stopSignal, timeoutMs: proc.stopTimeoutMs }, 'service stopping');
      if (proc.handle !== null) proc.handle.stop(request.reason);
      // Adopted: its pid is signalled only while it is still the recorded process.
      else if (!isRecordedProcess(proc)) this.exited(proc, null, proc.runId, proc.startedAt);
      else void terminateGroup(proc.pid, proc.stopTimeoutMs, 20, proc.stopSignal).done.then((how) => this.exited(proc, null, proc.runId, proc.startedAt, how === 'killed'));
    }
    // Done when this process has exited and its group is empty: stopped, or (a start came
    // meanwhile) starting again; a restart waits for the new process.
    if (request.then === 'stop') return proc.ended.then(() => this.settling ?? undefined).then(() => this.state);
    return this.until((s) => s !== 'stopping' && s !== 'starting');
  }

  /** Skips the stop timeout: SIGKILL to the group of a stopping process now. */
  hurry(): void {
    const proc = this.proc;
    if (proc === null || proc.stop === null) return;
    if (proc.handle === null && !isRecordedProcess(proc)) return;
    try {
      killGroup(proc.pid, 'SIGKILL');
    } catch {
      // Gone, or not ours to signal: its exit is seen either way.
    }
  }

  /**
   * A signal to the instance's process, not its group. When that process is the shell of a
   * command of several parts (`cd /srv && php worker.php`), which would die of most signals,
   * its children get it instead (the shell itself when it has none). False when none runs.
   */
  signal(signal: NodeJS.Signals): boolean {
    const proc = this.proc;
    if (proc === null || !isRecordedProcess(proc)) return false;
    const children = this.definition().wrapped ? childrenOf(proc.pid) : [];
    for (const pid of children.length > 0 ? children : [proc.pid]) {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone meanwhile.
      }
    }
    return true;
  }

  /**
   * The process ended (`result` null: an adopted one, whose status is unknown). Records it,
   * says why, and decides what follows.
   */
  private exited(proc: Proc | null, result: Pick<RunResult, 'outcome' | 'exitCode' | 'signal' | 'reason' | 'durationMs'> | null, runId: string, startedAt: number, adoptedKilled = false): void {
    if (proc !== null && this.proc !== proc) return;
    // A spawn that failed (no pid) of an attempt since replaced: nothing of it is current.
    if (proc === null && this.proc !== null) return;
    clearTimeout(this.upTimer);
    clearTimeout(this.lifetimeTimer);
    clearTimeout(this.pollTimer);
    const { context } = this;
    const spec = this.definition().spec;
    const now = Date.now();
    const request = proc?.stop ?? null;
    // Read to its end before a new process of the instance empties the files.
    proc?.output?.close();
    this.proc = null;
    const uptimeMs = result?.durationMs ?? now - startedAt;
    // Up past stable=, however it ended (a planned restart too): the next crash is a first one.
    if (uptimeMs > spec.stableMs) this.failures = 0;
    const status = result === null ? 'status unknown: not this scheduler\'s child' : result.signal !== null ? `killed by ${result.signal}` : result.exitCode !== null ? `exit ${result.exitCode}` : (result.reason ?? 'could not start');
    let reason: string;
    let outcome: FinishedRun['outcome'];
    let next: 'start' | 'stop' | 'backoff' | 'failed';
    if (request !== null) {
      const escalated = adoptedKilled ? `SIGKILL after ${formatDuration(proc?.stopTimeoutMs ?? 0)} grace` : result?.reason !== undefined && result.reason !== request.reason && result.reason.startsWith(`${request.reason}; `) ? result.reason.slice(request.reason.length + 2) : null;
      reason = `${request.reason} (${status}${escalated === null || escalated === '' ? '' : `; ${escalated}`})`;
      outcome = escalated !== null && escalated !== '' ? 'killed' : 'ok';
      // A start asked for while it was stopping (wanted again) starts it too.
      next = this.wanted ? 'start' : 'stop';
    } else {
      const failed = result === null || result.outcome !== 'ok';
      outcome = result === null ? 'ok' : (result.outcome as Exclude<RunOutcome, 'timeout'>);
      reason = result?.outcome === 'error' ? (result.reason ?? 'could not start') : `${failed ? 'crashed' : 'exited'} (${status})`;
      const restart = spec.restart === 'always' || (spec.restart === 'on-failure' && failed);
      if (!restart || !this.wanted) next = 'stop';
      else {
        const recent = this.countedStarts.filter((at) => at > now - spec.startLimit.windowMs);
        this.countedStarts = recent;
        next = recent.length + 1 > spec.startLimit.maxCrashes ? 'failed' : 'backoff';
      }
      if (next === 'stop' && this.wanted) reason += `; not restarted (restart=${spec.restart})`;
    }
    this.lastExit = { at: now, exitCode: result?.exitCode ?? null, signal: result?.signal ?? null, reason };
    let delayMs = 0;
    if (next === 'backoff') {
      this.failures = failuresInARow(this.failures, uptimeMs, spec.stableMs);
      delayMs = backoffDelayMs(spec.backoff, this.failures);
      this.lastExit.reason = reason += `; restart in ${formatDuration(delayMs)}`;
    } else if (next === 'failed') {
      delayMs = spec.retryAfterMs;
      this.lastExit.reason = reason += `; start limit reached (more than ${spec.startLimit.maxCrashes} starts within ${formatDuration(spec.startLimit.windowMs)}): failed, tried again in ${formatDuration(delayMs)}`;
    }
    const fields = { job: this.id, instance: this.index, pid: proc?.pid ?? null, run: runId, exitCode: result?.exitCode ?? null, signal: result?.signal ?? null, uptimeMs, reason };
    if (next === 'failed') context.log.error(fields, 'service failed: start limit reached');
    else if (request === null && this.wanted) context.log.warn(fields, 'service exited');
    else context.log.info(fields, 'service exited');
    // A restart without delay comes first, the history's writes after it: the time from a crash
    // to the new process running is the figure a supervisor is judged by. Not while members of
    // the old group are left (they are ended first, in afterExit).
    const why = request?.reason ?? 'restart after a crash';
    const atOnce = (next === 'start' || (next === 'backoff' && delayMs === 0)) && this.wanted && (proc === null || liveMembers(proc.pid) === 0);
    if (atOnce) {
      this.restarts++;
      this.spawn(why, next === 'backoff');
    } else if (proc !== null) {
      try {
        removeInstanceRecord(context.stateDir, this.id, this.index);
      } catch {
        // A record left over names a process that is gone: the next scheduler sees that.
      }
    }
    // The history: an adopted process whose end was not asked for is lost (its status unknown).
    if (result === null && request === null) void context.store.serviceLost(runId, reason, now);
    else if (proc === null && result !== null) {
      // It never ran (spawn or output files failed): a row all the same, started and ended at once.
      void context.store.serviceStarted(runId, this.id, this.index, null, startedAt);
      void context.store.finished(runId, finishedRun(result.exitCode, result.signal, 'error', startedAt, now, reason));
    } else void context.store.finished(runId, finishedRun(result?.exitCode ?? null, result?.signal ?? null, outcome, startedAt, startedAt + uptimeMs, reason));
    if (!atOnce) this.afterExit(proc, next, delayMs, why);
    proc?.end();
  }

  /** Members of the group the process left behind are ended before anything starts again. */
  private afterExit(proc: Proc | null, next: 'start' | 'stop' | 'backoff' | 'failed', delayMs: number, why: string): void {
    // Not for an adopted process: its pid may be another's by now (its end was seen by polling).
    const left = proc !== null && proc.handle !== null && liveMembers(proc.pid) > 0;
    const proceed = (): void => {
      this.settling = null;
      if (this.proc !== null) return;
      if (this.startAsked && this.wanted) {
        this.startAsked = false;
        this.restarts++;
        this.spawn('schedd service start', true);
        return;
      }
      this.startAsked = false;
      if (next === 'stop' || !this.wanted) {
        this.nextTryAt = null;
        try {
          removeOutputFiles(this.context.stateDir, this.id, this.index);
        } catch {
          // Left for the next start, which empties them.
        }
        this.setState('stopped');
        return;
      }
      if (next === 'start') {
        this.restarts++;
        this.spawn(why, false);
        return;
      }
      this.nextTryAt = Date.now() + delayMs;
      this.setState(next);
      const wait = Math.min(delayMs, MAX_TIMER_MS);
      this.timer = setTimeout(() => {
        if (this.proc !== null || (this.state !== 'backoff' && this.state !== 'failed')) return;
        this.nextTryAt = null;
        if (next === 'failed') this.forgetFailures();
        this.restarts++;
        this.spawn(next === 'failed' ? 'retry after the start limit' : 'restart after a crash', true);
      }, wait);
    };
    if (!left) return proceed();
    this.settling = terminateGroup(proc.pid, proc.stopTimeoutMs, 20, proc.stopSignal).done.then(proceed);
  }
}

/** A service process's end as the history records it (no captured output: it went to the log). */
export function finishedRun(exitCode: number | null, signal: string | null, outcome: FinishedRun['outcome'], startedAt: number, finishedAt: number, reason: string): FinishedRun {
  return { outcome, exitCode, signal, startedAt, finishedAt, durationMs: finishedAt - startedAt, attempt: 1, reason, output: { head: '', tail: '', bytes: 0, truncated: false } };
}
