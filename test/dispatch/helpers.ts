// A dispatcher on a fake clock, a fake spawner and a fake claim, with every run event it emits.
import { parseCrontab } from '../../src/crontab/parse.js';
import type { Entry } from '../../src/crontab/types.js';
import { Dispatcher, type UnrecordedPolicy } from '../../src/dispatch/dispatcher.js';
import { RunEvents, type RunEvent, type Trigger } from '../../src/events/run-events.js';
import type { Log, LogFields } from '../../src/log.js';
import type { RunHandle, RunHooks, RunOutcome, RunResult, RunSpec } from '../../src/runner/index.js';
import type { ClaimResult } from '../../src/store/types.js';
import { FakeClock } from '../helpers/fake-clock.js';

export const T0 = Date.parse('2026-03-02T10:00:00.000Z');

export const slot = (scheduledAt: number): Trigger => ({ kind: 'slot', scheduledAt });

/** The first entry of a one-job crontab: `options` as in `# schedd: name=NAME OPTIONS`. */
export function job(name: string, options = ''): Entry {
  const parsed = parseCrontab(`# schedd: name=${name} ${options}\n* * * * * echo ${name}\n`);
  if (parsed.entries.length !== 1) throw new Error(`bad test entry: ${JSON.stringify(parsed.diagnostics)}`);
  return parsed.entries[0]!;
}

export class FakeHandle implements RunHandle {
  startedAt: number;
  released = false;
  aborted = false;
  readonly stops: string[] = [];
  readonly done: Promise<RunResult>;
  private resolve!: (result: RunResult) => void;
  private ended = false;

  constructor(
    readonly spec: RunSpec,
    readonly hooks: RunHooks,
    readonly pid: number,
    private readonly clock: FakeClock,
  ) {
    this.startedAt = clock.now();
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  /** The slot this process stands for (SCHEDD_SCHEDULED_AT). */
  get scheduledAt(): string {
    return this.spec.env.SCHEDD_SCHEDULED_AT!;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.startedAt = this.clock.now();
  }

  abort(): void {
    this.aborted = true;
    this.end('error', null, 'aborted at the gate');
  }

  stop(reason: string): void {
    this.stops.push(reason);
  }

  end(outcome: RunOutcome, exitCode: number | null = outcome === 'ok' ? 0 : outcome === 'failed' ? 1 : null, reason?: string): void {
    if (this.ended) return;
    this.ended = true;
    const finishedAt = this.clock.now();
    this.resolve({
      outcome,
      exitCode,
      signal: outcome === 'killed' ? 'SIGTERM' : null,
      pid: this.pid,
      startedAt: this.startedAt,
      finishedAt,
      durationMs: finishedAt - this.startedAt,
      output: { head: '', tail: '', bytes: 0, truncated: false },
      ...(reason === undefined ? {} : { reason }),
    });
  }
}

/** Settles pending claims and run ends (microtasks), without any timer. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface Harness {
  clock: FakeClock;
  dispatcher: Dispatcher;
  events: RunEvent[];
  /** The events, briefly: `type job detail`. */
  brief(): string[];
  handles: FakeHandle[];
  /** The next claims' results, in order; 'won' when empty. A function result is a pending claim. */
  claims: (ClaimResult | Deferred)[];
}

export interface Deferred {
  promise: Promise<ClaimResult>;
  resolve(result: ClaimResult): void;
}

export function deferred(): Deferred {
  let resolve!: (result: ClaimResult) => void;
  const promise = new Promise<ClaimResult>((r) => (resolve = r));
  return { promise, resolve };
}

const silentLog: Log = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  fatal: () => {},
  flush: (callback) => callback?.(),
  level: 'silent',
  reopen: () => {},
  dropped: 0,
};

export function briefEvent(event: RunEvent): string {
  switch (event.type) {
    case 'claimed':
      return `claimed ${event.job} ${event.claim}`;
    case 'pending':
      return `pending ${event.job} ${event.why}`;
    case 'started':
      return `started ${event.job} attempt ${event.attempt}`;
    case 'output':
      return `output ${event.job}`;
    case 'finished':
      return `finished ${event.job} ${event.record.outcome} attempt ${event.attempt} ${event.final ? 'final' : `retry in ${event.retry.delayMs}`}`;
    case 'cancelled':
      return `cancelled ${event.job}: ${event.reason}`;
    case 'notRun':
      return `notRun ${event.job} ${event.outcome}: ${event.reason}${event.recorded ? ' (recorded)' : ''}`;
    case 'forgotten':
      return `forgotten ${event.job}`;
  }
}

/** `claimsAtOnce`: the store answers claims itself, as the SQLite store does; else with promises, as a remote one would. */
export function harness(options: { maxConcurrent?: number | null; unrecorded?: UnrecordedPolicy; claimsAtOnce?: boolean } = {}): Harness {
  const clock = new FakeClock('2026-03-02T10:00:00.000Z');
  const events: RunEvent[] = [];
  const handles: FakeHandle[] = [];
  const claims: (ClaimResult | Deferred)[] = [];
  const bus = new RunEvents((error) => {
    throw error;
  });
  bus.on({
    claimed: (e) => events.push(e),
    pending: (e) => events.push(e),
    started: (e) => events.push(e),
    finished: (e) => events.push(e),
    cancelled: (e) => events.push(e),
    notRun: (e) => events.push(e),
    forgotten: (e) => events.push(e),
  });
  const dispatcher = new Dispatcher({
    log: silentLog,
    events: bus,
    store: {
      claim: () => {
        const next = claims.shift() ?? 'won';
        if (typeof next !== 'string') return next.promise;
        return options.claimsAtOnce === true ? next : Promise.resolve(next);
      },
    },
    clock,
    spawner: (spec, hooks) => {
      const handle = new FakeHandle(spec, hooks, 1000 + handles.length, clock);
      handles.push(handle);
      return handle;
    },
    ...(options.unrecorded === undefined ? {} : { unrecorded: options.unrecorded }),
    killGraceMs: 1000,
    maxConcurrent: options.maxConcurrent ?? null,
    cleanEnv: true,
    baseEnv: {},
    accounts: new Map(),
    host: 'test-host',
  });
  return { clock, dispatcher, events, handles, claims, brief: () => events.map(briefEvent) };
}
