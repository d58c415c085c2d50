/*
 * How this works.
 *
 * Every job has one pending Fire (its next slot as an instant), kept in a min-heap. The
 * scheduler owns exactly one timer, armed for the earliest slot but never longer than
 * MAX_WAIT_MS: timers drift across suspend and long delays, so it wakes at least every 30 s and
 * re-reads the wall clock. On each wake it compares the wall clock with when it expected to wake
 * and handles the slots that came due since the last wake:
 *
 * - on time, or woken up to STALL_MS (5 s) late (a busy loop, a GC pause): every due slot
 *   fires once, late;
 * - later than that, by up to 3 hours, fixed-time jobs fire each passed slot once, in order,
 *   and wildcard jobs fire once for now, their other slots reported. Whether the process was
 *   stalled (SIGSTOP, a paused VM: monotonic time ran on as far as the wall clock) or the wall
 *   clock was set forward (monotonic time did not follow) only changes what the report says:
 *   slots *missed* during a stall (schedd was not running, as when it is down), slots
 *   *skipped* by a clock jump. Firing every slot of a wildcard job at once is no catch-up: the
 *   overlap policy would skip all but one of them and report them as overlaps;
 * - a larger jump forward (or stall) is a clock correction: the passed slots are reported,
 *   none fires;
 * - the clock went back by up to 3 hours: nothing repeats, since each job's next slot is after
 *   the last one it fired; a larger jump back is a correction and jobs reschedule from now.
 *
 * A slot never fires twice: a job's next slot is always computed strictly after the later of
 * its last fired slot and the current time. The scheduler decides *when*; what firing means
 * (processes, overlap, retries) belongs to its listener.
 */
import type { Clock } from './clock.js';
import { MinHeap } from './heap.js';
import { nextFire, type Fire } from './next-fire.js';
import { latestDue, stallDetail } from './passed-slots.js';
import type { Entry } from '../crontab/types.js';

export { stallDetail };

export const MAX_WAIT_MS = 30_000;
/**
 * A wake later than this is a stall or a jump, not a busy loop. Well above what a loaded machine
 * delays a timer by (tens to hundreds of ms; a second in a bad GC pause), so a per-second job
 * that is a little late still fires every slot; well below a human-scale stall, which must
 * not fire a burst of runs that the overlap policy would then record as overlaps.
 */
export const STALL_MS = 5_000;
export const JUMP_LIMIT_MS = 3 * 3_600_000;
/** A fire later than this is reported as late rather than on time. */
const LATE_NOTICE_MS = 1000;
/**
 * Preparing starts a process, which costs a few ms of the event loop, so the lead time before a
 * slot grows with the number of jobs due at that instant, and one wake prepares a bounded batch
 * before yielding to other timers. The cost is measured as prepares happen (on a busy machine a
 * process start takes several times what it takes on an idle one); when the measure moves by
 * more than REKEY_FACTOR from the one the lead times were sized with, they are sized again
 * (never with less than PREPARE_MIN_COST_MS).
 * Prepares that are due are done earliest slot first, so a backlog never makes a near slot
 * wait for a far one.
 */
const PREPARE_BASE_MS = 50;
/**
 * The least cost of one prepare that leads are sized with, measured or not (a process start on a
 * busy machine; an idle one takes a few ms, but a prepare's wall time is more than what the call
 * itself takes, and it grows with every process held): being early only holds a process a
 * little longer, being late makes the slot late. The lead per job is twice the cost.
 */
const PREPARE_MIN_COST_MS = 10;
const PREPARE_MAX_MS = 30_000;
const PREPARE_BATCH = 4;
const REKEY_FACTOR = 1.5;
/**
 * After a burst fires, its processes are starting: prepares for slots further off than
 * PREPARE_URGENT_MS wait QUIET_PER_FIRE_MS per job fired (at most QUIET_MAX_MS), so that the
 * next burst's process starts do not compete with this one's.
 */
const QUIET_PER_FIRE_MS = 0.5;
const QUIET_MAX_MS = 500;
const PREPARE_URGENT_MS = 1000;
/** How often the scheduler looks again while quiet: a prepare that became urgent, or a slot, may not wait for its end. */
const QUIET_POLL_MS = 10;
/** Slots handled one by one per job and wake; beyond this they are counted, not enumerated. */
const MAX_SLOTS_PER_WAKE = 1000;

/** A fire after a stall is `late`: the slot's time is right, schedd was not running. */
export type FireCause = 'on-time' | 'late' | 'clock-jump' | 'dst-gap';
export type SkipReason = 'clock-jump' | 'clock-correction' | 'stall' | 'too-many';
type Mode = 'normal' | 'jump' | 'correction';
/** What made a wake late: the process stalled, or the wall clock was changed. */
type Cause = 'stall' | 'clock';

/** Slots a job did not fire, as one report: `count` of them between firstAt and lastAt. */
export interface Skipped {
  firstAt: number;
  lastAt: number;
  count: number;
  /** True when there were more than `count` (too many to enumerate). */
  atLeast: boolean;
  reason: SkipReason;
  /** `missed` when schedd was stalled (it did not run, as when it is down), else `skipped`. */
  outcome: 'skipped' | 'missed';
  /** The reason for people: `schedd was stalled for 90 s (...)`; the reason code otherwise. */
  detail: string;
}

export interface ScheduledJob {
  readonly id: string;
  entry: Entry;
  zone: string;
  next: Fire | null;
  /** Instant of the last slot fired (or skipped), so no slot is handled twice. */
  lastSlotAt: number | null;
  /** The slot the listener was asked to prepare for, if any. */
  preparedFor: number | null;
  /** When the scheduler next has to act for this job (prepare or fire); the heap's key. */
  actionAt: number;
  /** How many jobs had this job's next slot when it was scheduled, itself included (sizes its lead). */
  slotRank: number;
  heapIndex: number;
  /** Its place in the heap of next slots. */
  slotHeapIndex: number;
}

export interface SchedulerListener {
  /**
   * Optional: get ready for a slot shortly before it (start the process and hold it), so that
   * many jobs due at once can all start on time. Called at most once per job and slot.
   */
  prepare?(job: ScheduledJob, fire: Fire): void;
  /** The prepared slot will not come (the job was removed or retimed). */
  unprepare?(job: ScheduledJob): void;
  /** A listener call threw (a bug): reported, and the loop goes on. */
  error?(job: ScheduledJob, error: unknown): void;
  fire(job: ScheduledJob, fire: Fire, cause: FireCause, lateMs: number): void;
  skip(job: ScheduledJob, skipped: Skipped): void;
  clockJump?(deltaMs: number, kind: 'forward' | 'backward' | 'correction'): void;
  /** The loop woke `stalledMs` late by both clocks: the process was stopped or starved. */
  stalled?(stalledMs: number): void;
}

export interface ReloadDiff {
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: number;
}

function safeNext(job: ScheduledJob, now: number): Fire | null {
  try {
    return nextFire(job.entry.schedule, job.zone, Math.max(now, job.lastSlotAt ?? now));
  } catch {
    return null;
  }
}

/** Everything that decides when an entry fires; a change here reschedules it. */
function timing(entry: Entry, zone: string): string {
  return `${entry.schedule.pattern}|${entry.schedule.kind}|${entry.schedule.domAndDow}|${entry.schedule.fixedTime}|${zone}`;
}

/** Everything else about an entry; a change here is reported but keeps its next slot. */
function definition(entry: Entry): string {
  return JSON.stringify([entry.command, entry.stdin, entry.env, entry.options, entry.user, entry.schedule.text]);
}

export class Scheduler {
  private readonly jobs = new Map<string, ScheduledJob>();
  private readonly heap = new MinHeap((job: ScheduledJob) => job.actionAt, 'heapIndex');
  /** The same jobs (those with a next slot) keyed by that slot: the next fire of all. */
  private readonly slots = new MinHeap((job: ScheduledJob) => job.next!.at, 'slotHeapIndex');
  /** How many jobs have their next slot at each instant (sizes the prepare lead time). */
  private readonly slotCounts = new Map<number, number>();
  /** Moving average of what one prepare costs on this machine, in ms. */
  private prepareCostMs = PREPARE_MIN_COST_MS;
  /** The cost the heap's lead times were sized with: the measure, at least PREPARE_MIN_COST_MS. */
  private keyedCostMs = PREPARE_MIN_COST_MS;
  /** Until then only urgent prepares are done: a burst just fired is starting (QUIET_PER_FIRE_MS). */
  private quietUntil = Number.NEGATIVE_INFINITY;
  private timer: unknown = null;
  private running = false;
  /** Wall time of the last wake and when the armed timer should go off. */
  private lastWakeAt = 0;
  private expectedWakeAt = 0;
  /** The same expected wake on the monotonic clock. */
  private expectedWakeMono = 0;

  constructor(
    private readonly clock: Clock,
    private readonly defaultZone: string,
    private readonly listener: SchedulerListener,
  ) {}

  /**
   * Installs a new set of entries, keeping the state of jobs whose id is unchanged. `lastSlots`
   * (from the run history, at start) says which slots a job already had: none of them fires again.
   */
  update(entries: readonly Entry[], lastSlots: ReadonlyMap<string, number> = new Map(), fromMs?: number): ReloadDiff {
    const now = this.clock.now();
    // New jobs take slots after `fromMs` (the daemon's start: a slot between it and now fires late).
    const from = Math.min(fromMs ?? now, now);
    const diff: ReloadDiff = { added: [], changed: [], removed: [], unchanged: 0 };
    const seen = new Set<string>();
    for (const entry of entries) {
      seen.add(entry.id);
      const zone = entry.zone ?? this.defaultZone;
      const job = this.jobs.get(entry.id);
      if (job === undefined) {
        const lastSlotAt = lastSlots.get(entry.id) ?? null;
        const added: ScheduledJob = { id: entry.id, entry, zone, next: null, lastSlotAt, preparedFor: null, actionAt: 0, slotRank: 0, heapIndex: -1, slotHeapIndex: -1 };
        this.jobs.set(entry.id, added);
        this.schedule(added, nextFire(entry.schedule, zone, Math.max(from, lastSlotAt ?? from)));
        diff.added.push(entry.id);
        continue;
      }
      const retimed = timing(job.entry, job.zone) !== timing(entry, zone);
      if (retimed || definition(job.entry) !== definition(entry)) diff.changed.push(entry.id);
      else diff.unchanged++;
      job.entry = entry;
      job.zone = zone;
      if (retimed) {
        this.unschedule(job);
        this.schedule(job, nextFire(entry.schedule, zone, Math.max(now, job.lastSlotAt ?? now)));
      }
    }
    for (const [id, job] of this.jobs) {
      if (seen.has(id)) continue;
      this.unschedule(job);
      this.jobs.delete(id);
      diff.removed.push(id);
    }
    if (this.running) this.arm();
    return diff;
  }

  start(): void {
    this.running = true;
    const now = this.clock.now();
    this.lastWakeAt = now;
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  get(id: string): ScheduledJob | undefined {
    return this.jobs.get(id);
  }

  all(): IterableIterator<ScheduledJob> {
    return this.jobs.values();
  }

  get size(): number {
    return this.jobs.size;
  }

  /**
   * `resumeAt`: prepares were left for later, to be taken up then (at once, after other timers
   * have run, or after a slot that was too near to prepare before). The delay is taken from the
   * clock as it reads now, not when the wake began: preparing takes milliseconds, and a delay
   * counted from before it would make the next fire late by as much.
   */
  private arm(resumeAt: number | null = null): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    const now = this.clock.now();
    const actionAt = resumeAt ?? this.heap.peek()?.actionAt ?? Number.POSITIVE_INFINITY;
    const delayMs = Math.min(Math.max(actionAt - now, 0), MAX_WAIT_MS);
    this.expectedWakeAt = now + delayMs;
    this.expectedWakeMono = this.clock.monotonicNow() + delayMs;
    this.timer = this.clock.setTimer(() => this.wake(), delayMs);
  }

  /** Public for tests that drive the clock by hand; the timer calls it. */
  wake(): void {
    this.timer = null;
    if (!this.running) return;
    const now = this.clock.now();
    const driftMs = now - this.expectedWakeAt;
    // A stall moves both clocks; a clock set forward moves the wall clock alone. Whatever part of
    // the lateness monotonic time does not account for (beyond the noise) was a jump.
    const cause: Cause = this.clock.monotonicNow() - this.expectedWakeMono >= driftMs - STALL_MS ? 'stall' : 'clock';
    let resumeAt: number | null = null;
    try {
      if (now < this.lastWakeAt) this.wentBack(now, -driftMs);
      else if (driftMs > JUMP_LIMIT_MS) resumeAt = this.handleDue(now, 'correction', driftMs, cause);
      else if (driftMs > STALL_MS) resumeAt = this.handleDue(now, 'jump', driftMs, cause);
      else resumeAt = this.handleDue(now, 'normal', driftMs, cause);
    } finally {
      // Whatever happened above, the loop goes on.
      this.lastWakeAt = now;
      this.arm(resumeAt);
    }
  }

  private wentBack(now: number, backMs: number): void {
    if (backMs <= JUMP_LIMIT_MS) {
      // Each job's next slot is after the last one it fired: waiting for it repeats nothing.
      this.listener.clockJump?.(-backMs, 'backward');
      return;
    }
    this.listener.clockJump?.(-backMs, 'correction');
    for (const job of this.jobs.values()) {
      this.unschedule(job);
      job.lastSlotAt = null;
      this.schedule(job, nextFire(job.entry.schedule, job.zone, now));
    }
  }

  /** Sets a job's next slot and puts it in the heap, keyed by when it needs attention. */
  private schedule(job: ScheduledJob, next: Fire | null): void {
    job.next = next;
    job.preparedFor = null;
    if (next === null) {
      job.actionAt = Number.POSITIVE_INFINITY;
    } else {
      job.slotRank = (this.slotCounts.get(next.at) ?? 0) + 1;
      this.slotCounts.set(next.at, job.slotRank);
      job.actionAt = next.at - this.leadMs(job.slotRank, this.keyedCostMs);
      this.slots.push(job);
    }
    this.heap.push(job);
  }

  /** How long before its slot the job with this rank among the slot's jobs is prepared. */
  private leadMs(rank: number, costMs: number): number {
    if (this.listener.prepare === undefined) return 0;
    return Math.min(PREPARE_MAX_MS, PREPARE_BASE_MS + rank * 2 * costMs);
  }

  /** Sizes every unprepared job's lead time again with this cost. */
  private rekey(costMs: number): void {
    this.keyedCostMs = costMs;
    for (const job of this.jobs.values()) {
      if (job.next === null || job.preparedFor !== null) continue;
      this.heap.remove(job);
      job.actionAt = job.next.at - this.leadMs(job.slotRank, this.keyedCostMs);
      this.heap.push(job);
    }
  }

  /** Takes a job out of the heap (removed, retimed, or about to be handled). */
  private unschedule(job: ScheduledJob): void {
    this.heap.remove(job);
    this.slots.remove(job);
    if (job.next !== null) {
      const count = (this.slotCounts.get(job.next.at) ?? 1) - 1;
      if (count > 0) this.slotCounts.set(job.next.at, count);
      else this.slotCounts.delete(job.next.at);
    }
    if (job.preparedFor !== null) this.listener.unprepare?.(job);
    job.preparedFor = null;
  }

  /** Handles what is due; returns when to come back for prepares left for later, if any. */
  private handleDue(now: number, mode: Mode, driftMs: number, cause: Cause): number | null {
    if (mode !== 'normal' && cause === 'stall') this.listener.stalled?.(driftMs);
    else if (mode !== 'normal') this.listener.clockJump?.(driftMs, mode === 'jump' ? 'forward' : 'correction');
    // Take every job that needs attention now. Due slots come first, and among them the
    // prepared ones (releasing a held process is quick; starting one is not).
    const due: ScheduledJob[] = [];
    const toPrepare: ScheduledJob[] = [];
    for (let job = this.heap.peek(); job !== undefined && job.actionAt <= now; job = this.heap.peek()) {
      this.heap.remove(job);
      (job.next!.at <= now ? due : toPrepare).push(job);
    }
    due.sort((a, b) => Number(b.preparedFor === b.next!.at) - Number(a.preparedFor === a.next!.at));
    for (const job of due) {
      try {
        this.handleSlot(job, now, mode, cause, driftMs);
      } catch (error) {
        // Nothing in the listener should throw; if it does, the job stays scheduled.
        this.listener.error?.(job, error);
        if (job.heapIndex < 0) {
          this.unschedule(job);
          this.schedule(job, safeNext(job, now));
        }
      }
    }
    if (mode === 'normal' && due.length > 0) this.quietUntil = Math.max(this.quietUntil, this.clock.now() + Math.min(QUIET_MAX_MS, due.length * QUIET_PER_FIRE_MS));
    // Earliest slot first; among a slot's jobs, the order their lead times gave.
    toPrepare.sort((a, b) => a.next!.at - b.next!.at);
    let prepared = 0;
    let resumeAt: number | null = null;
    for (const job of toPrepare) {
      // Preparing must never hold up a fire: the batch ends when full, or when a slot (perhaps
      // this job's own) would come before another prepare is likely done; the rest waits for
      // it. Nor compete with a burst just fired, unless its own slot is near.
      if (resumeAt === null) {
        // The clock as it reads now, after the fires and prepares before this one.
        const at = this.clock.now();
        const nextSlotAt = this.slots.peek()?.next!.at ?? Number.POSITIVE_INFINITY;
        if (nextSlotAt <= at + 2 * this.prepareCostMs) resumeAt = nextSlotAt;
        else if (at < this.quietUntil && job.next!.at - at > PREPARE_URGENT_MS) resumeAt = Math.min(this.quietUntil, at + QUIET_POLL_MS);
        else if (prepared === PREPARE_BATCH || (this.heap.peek()?.actionAt ?? Number.POSITIVE_INFINITY) <= at) resumeAt = at;
      }
      if (resumeAt !== null) {
        this.heap.push(job); // key unchanged: picked up on the next wake
        continue;
      }
      prepared++;
      const slot = job.next!;
      job.preparedFor = slot.at;
      job.actionAt = slot.at;
      this.heap.push(job);
      // What a prepare costs (a process start) is measured, not assumed: it sizes lead times.
      const startedMs = this.clock.monotonicNow();
      try {
        this.listener.prepare?.(job, slot);
      } catch (error) {
        this.listener.error?.(job, error);
      }
      this.prepareCostMs = 0.9 * this.prepareCostMs + 0.1 * (this.clock.monotonicNow() - startedMs);
    }
    const costMs = Math.max(PREPARE_MIN_COST_MS, this.prepareCostMs);
    const drift = costMs / this.keyedCostMs;
    if (drift > REKEY_FACTOR || drift < 1 / REKEY_FACTOR) this.rekey(costMs);
    return resumeAt;
  }

  /** A job's slot is due: fire it (or report it skipped), then schedule its next slot. */
  private handleSlot(job: ScheduledJob, now: number, mode: Mode, cause: Cause, driftMs: number): void {
    const slot = job.next!;
    if (mode === 'normal') {
      // Fire first, then work out the next slot: the next slot may need a cold zone table.
      this.listener.fire(job, slot, slot.shifted === 'dst-gap' ? 'dst-gap' : now - slot.at > LATE_NOTICE_MS ? 'late' : 'on-time', now - slot.at);
    }
    const due: Fire[] = [slot];
    let fire: Fire | null = nextFire(job.entry.schedule, job.zone, slot.at);
    let overflow = false;
    while (fire !== null && fire.at <= now) {
      if (due.length === MAX_SLOTS_PER_WAKE) {
        // A per-second job after a long jump has thousands of slots: stop enumerating. After a
        // jump a wildcard job runs once for now, so its latest due slot (and the one before it,
        // the end of what was skipped) is looked up from now rather than left thousands away.
        overflow = true;
        if (mode === 'jump') due.push(...latestDue(job.entry.schedule, job.zone, now, due[due.length - 1]!.at));
        fire = nextFire(job.entry.schedule, job.zone, now);
        break;
      }
      due.push(fire);
      fire = nextFire(job.entry.schedule, job.zone, fire.at);
    }
    // The prepared slot has come and was fired: nothing to take back. (In other modes it may
    // only have been reported: then unschedule takes the held process back.)
    if (mode === 'normal') job.preparedFor = null;
    this.unschedule(job);
    job.lastSlotAt = overflow ? now : due[due.length - 1]!.at;
    this.schedule(job, fire);
    this.dispatch(job, mode === 'normal' ? due.slice(1) : due, overflow, now, mode, cause, driftMs);
  }

  private dispatch(job: ScheduledJob, due: Fire[], overflow: boolean, now: number, mode: Mode, cause: Cause, driftMs: number): void {
    if (due.length === 0) return;
    const first = due[0]!;
    const last = due[due.length - 1]!;
    const stalled = mode !== 'normal' && cause === 'stall';
    const report = (skipped: Omit<Skipped, 'outcome' | 'detail' | 'reason'>, reason: SkipReason): void => {
      const why = stalled ? 'stall' : reason;
      this.listener.skip(job, { ...skipped, reason: why, outcome: stalled ? 'missed' : 'skipped', detail: stalled ? stallDetail(driftMs) : why });
    };
    if (mode === 'correction') {
      report({ firstAt: first.at, lastAt: overflow ? now : last.at, count: due.length, atLeast: overflow }, 'clock-correction');
      return;
    }
    if (mode === 'jump' && !job.entry.schedule.fixedTime) {
      if (due.length > 1 || overflow) report({ firstAt: first.at, lastAt: due[due.length - 2]?.at ?? first.at, count: due.length - 1, atLeast: overflow }, 'clock-jump');
      this.listener.fire(job, last, stalled ? 'late' : 'clock-jump', now - last.at);
      return;
    }
    for (const fire of due) {
      const lateMs = now - fire.at;
      const fireCause: FireCause = fire.shifted === 'dst-gap' ? 'dst-gap' : mode === 'jump' && !stalled ? 'clock-jump' : lateMs > LATE_NOTICE_MS ? 'late' : 'on-time';
      this.listener.fire(job, fire, fireCause, lateMs);
    }
    if (overflow) report({ firstAt: last.at, lastAt: now, count: 0, atLeast: true }, mode === 'jump' ? 'clock-jump' : 'too-many');
  }
}
