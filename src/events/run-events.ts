import type { OutputStream, RunResult } from '../runner/index.js';
import type { Skipped } from '../schedule/scheduler.js';
import type { FinishedRun, RunRecord } from '../store/types.js';

/**
 * What happens to runs, as typed events: the dispatcher (and recovery, and the scheduler's
 * skips) emit them; the history, the log and the last-run view subscribe (record.ts, log.ts,
 * last-runs.ts), and so can mail, webhooks or metrics, without a branch in the dispatcher.
 *
 * Delivery is synchronous, in subscription order, so what a subscriber writes is ordered as the
 * events are (the history's rows, the log's lines). A subscriber that throws is reported
 * (onError) and does not stop the others, nor the dispatcher.
 */

/** Why a run exists: its slot, `schedd run`, a catch-up of a missed slot, or @reboot. */
export interface Trigger {
  kind: 'slot' | 'run' | 'catch-up' | 'reboot';
  /** The moment the run stands for (SCHEDD_SCHEDULED_AT, the history's slot). */
  scheduledAt: number;
}

interface RunRef {
  job: string;
  run: string;
  trigger: Trigger;
}

/** The run's slot is the run's in the history (or the store is down and it runs anyway). */
export interface ClaimedEvent extends RunRef {
  type: 'claimed';
  claim: 'won' | 'unrecorded';
}

/** A run waits before it can start. */
export type PendingEvent =
  | { type: 'pending'; why: 'queued'; job: string; trigger: Trigger }
  | { type: 'pending'; why: 'replacing'; job: string; trigger: Trigger; running: number }
  | { type: 'pending'; why: 'jitter'; job: string; run: string; delayMs: number }
  | { type: 'pending'; why: 'max-concurrent'; job: string; run: string; running: number; waiting: number };

export interface StartedEvent extends RunRef {
  type: 'started';
  pid: number | null;
  startedAt: number;
  attempt: number;
}

/** A line a run printed; `instance` for a service's (services/). */
export type OutputEvent =
  | { type: 'output'; job: string; run: string; instance?: number; stream: OutputStream; line: string }
  | { type: 'output'; job: string; run: string; instance?: number; truncated: true; droppedBytes: number };

/** The retry that follows a failed attempt. */
export interface Retry {
  /** The failed attempt's own history id (RUN.N). */
  attemptId: string;
  delayMs: number;
  /** For the history: `attempt 1/3 failed (exit 1); retried after 1s`. */
  reason: string;
  nextAttempt: number;
}

/** An attempt ended. `final`: no retry follows (the run is over); otherwise `retry` says which. */
export type FinishedEvent = RunRef & {
  type: 'finished';
  attempt: number;
  result: RunResult;
  /** As recorded: 'interrupted' for a run killed because schedd stopped. */
  record: FinishedRun;
} & ({ final: true } | { final: false; retry: Retry });

/** A claimed run that never started its process. */
export interface CancelledEvent extends RunRef {
  type: 'cancelled';
  reason: string;
}

/** What made a slot not run, for the subscribers that word it (log.ts). */
export type NotRunCause =
  | { kind: 'overlap'; why: string; policy: 'skip' | 'queue' }
  | { kind: 'claim'; why: string }
  | { kind: 'clock'; skipped: Skipped }
  | { kind: 'downtime' }
  | { kind: 'lost'; record: RunRecord; alive: boolean };

export interface NotRunEvent {
  type: 'notRun';
  job: string;
  scheduledAt: number;
  outcome: 'skipped' | 'missed' | 'lost';
  /** As recorded in the history. */
  reason: string;
  cause: NotRunCause;
  /**
   * The history holds this outcome already, so record.ts writes nothing: a lost run (the
   * store's recoverInFlight marked it), a lost claim (the slot's row is the winner's).
   */
  recorded: boolean;
}

/** The job left the job set: per-job state (the last-run view) is dropped. */
export interface ForgottenEvent {
  type: 'forgotten';
  job: string;
}

export type RunEvent = ClaimedEvent | PendingEvent | StartedEvent | OutputEvent | FinishedEvent | CancelledEvent | NotRunEvent | ForgottenEvent;
export type RunEventType = RunEvent['type'];
const RUN_EVENT_TYPES: readonly RunEventType[] = ['claimed', 'pending', 'started', 'output', 'finished', 'cancelled', 'notRun', 'forgotten'];
export type RunEventOf<K extends RunEventType> = Extract<RunEvent, { type: K }>;

/** A subscriber handles the events it names; one file each under events/ (or notify/, metrics/). */
export type RunSubscriber = { [K in RunEventType]?: (event: RunEventOf<K>) => void };

export interface SubscribeOptions {
  /**
   * Take the events of a start ('claimed', 'started') at the end of the current turn of the
   * event loop rather than at once: a scheduler wake fires every slot due at that instant in
   * one turn, so a deferred subscriber (the log, the history beyond the claim) writes a burst's
   * starts once all of its jobs are released, not between one job's start and the next. Any
   * other event first delivers what is queued: every subscriber sees the events in the order
   * they were emitted.
   */
  deferred?: boolean;
}

/** The events on the path between a slot and its job's start. */
const DEFERRABLE: ReadonlySet<RunEventType> = new Set(['claimed', 'started']);

type Handler = (event: RunEvent) => void;

export class RunEvents {
  private readonly handlers = new Map<RunEventType, Handler[]>();
  private readonly queue: [Handler, RunEvent][] = [];

  constructor(private readonly onError: (error: unknown, type: RunEventType) => void) {}

  /** Subscribes to the events the subscriber has handlers for; returns the unsubscribe. */
  on(subscriber: RunSubscriber, options: SubscribeOptions = {}): () => void {
    const added: [RunEventType, Handler][] = [];
    // By name, so a class's methods count as well as an object literal's.
    for (const type of RUN_EVENT_TYPES) {
      const handler = subscriber[type] as Handler | undefined;
      if (handler === undefined) continue;
      const now: Handler = handler.bind(subscriber);
      const bound: Handler = options.deferred === true && DEFERRABLE.has(type) ? (event) => this.enqueue(now, event) : now;
      let list = this.handlers.get(type);
      if (list === undefined) this.handlers.set(type, (list = []));
      list.push(bound);
      added.push([type, bound]);
    }
    return () => {
      for (const [type, bound] of added) {
        const list = this.handlers.get(type)!;
        list.splice(list.indexOf(bound), 1);
      }
    };
  }

  private enqueue(handler: Handler, event: RunEvent): void {
    this.queue.push([handler, event]);
    if (this.queue.length === 1) queueMicrotask(() => this.drain());
  }

  private drain(): void {
    // Taken first: a handler that emits meanwhile sees an empty queue (and queues anew).
    const queued = this.queue.splice(0);
    for (const [handler, event] of queued) this.call(handler, event);
  }

  private call(handler: Handler, event: RunEvent): void {
    try {
      handler(event);
    } catch (error) {
      this.onError(error, event.type);
    }
  }

  emit(event: RunEvent): void {
    if (this.queue.length > 0 && !DEFERRABLE.has(event.type)) this.drain();
    const list = this.handlers.get(event.type);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) this.call(list[i]!, event);
  }
}
