import type { Account } from '../accounts.js';
import { findMissed, markLostRuns, planCatchUp } from '../dispatch/recovery.js';
import { historyPath } from '../state-dir/paths.js';
import { SafeStore } from '../store/safe-store.js';
import { DEFAULT_KEEP_RUNS, SqliteStore } from '../store/sqlite-store.js';
import { claimBoot, currentBootId } from './boot.js';
import { Dispatcher, type FireResult, type RunningInfo } from '../dispatch/dispatcher.js';
import { skippedSlots } from '../dispatch/skipped-slots.js';
import { RunEvents, type RunSubscriber } from '../events/run-events.js';
import { recordRuns } from '../events/record.js';
import { logRuns } from '../events/log.js';
import { LastRuns, type LastRun } from '../events/last-runs.js';
import { mailRuns, type MailRuns } from '../mail/mail-runs.js';
import { firstErrors, LOGGED_ERRORS } from '../sources/crontab-file.js';
import { JobSources } from '../sources/job-sources.js';
import { crontabSource } from '../sources/load.js';
import type { JobSource, LoadedJobs } from '../sources/types.js';
import type { SourcesScan, TableProblem } from '../sources/job-sources.js';
import type { Entry } from '../crontab/types.js';
import { ScheddError } from '../errors.js';
import type { Log } from '../log.js';
import type { DaemonConfig } from '../config.js';
import { systemClock, type Clock } from '../schedule/clock.js';
import { Scheduler, stallDetail, type ReloadDiff } from '../schedule/scheduler.js';
import { systemZone } from '../schedule/zone.js';
import { ServiceManager } from '../services/manager.js';
import { isService } from '../services/spec.js';

/** How often the daemon notes that it is alive: the start of a downtime is known to this. */
const HEARTBEAT_MS = 30_000;

/** The daemon's config (less what the process settled before: its log and its account), and what a process supplies at run time. */
export interface DaemonOptions extends Omit<DaemonConfig, 'logLevel' | 'pretty' | 'user'> {
  log: Log;
  clock?: Clock;
  /** Debounce of file-change events before a reload. */
  watchDebounceMs?: number;
  /** Run-event subscribers beyond the daemon's own (tests, later notify/ and metrics/). */
  subscribers?: readonly RunSubscriber[];
}

export interface ReloadOutcome {
  at: number;
  ok: boolean;
  /** The first errors (firstErrors): a file of 200,000 errors must not fill logs and replies. */
  errors: string[];
  /** How many errors the file had, when more than `errors` shows. */
  errorCount?: number;
  diff?: ReloadDiff;
  unchanged?: boolean;
  /** With unchanged: the reload that last changed the schedule (the watcher's, often). */
  lastChange?: AppliedReload;
}

/** A reload that changed the schedule: when, why, and what it did. */
export interface AppliedReload {
  at: number;
  reason: string;
  diff: ReloadDiff;
}

/**
 * One scheduler process: the crontab, the schedule, the running jobs and their lifecycle.
 * Signals and process exit belong to the caller (the service).
 */
export class Daemon {
  readonly startedAt = Date.now();
  lastReload: ReloadOutcome | null = null;
  /** The last reload that applied a changed file; null until one does. */
  lastChange: AppliedReload | null = null;
  private readonly scheduler: Scheduler;
  private readonly dispatcher: Dispatcher;
  private readonly jobSources: JobSources;
  private stopping: Promise<void> | null = null;
  private hurry: (() => void) | null = null;
  /** Reloads wait for start() to be done: one applied while services are adopted would start second copies. */
  private started!: () => void;
  private reloading: Promise<ReloadOutcome> = new Promise((resolve) => {
    this.started = () => resolve({ at: 0, ok: true, errors: [] });
  });
  /** Accounts of the users that jobs run as, resolved when the crontab is loaded. */
  private readonly accounts = new Map<string, Account>();
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly defaultZone = systemZone();
  /** The run history: never rejects, so jobs keep firing when it fails (safe-store.ts). */
  readonly store: SafeStore;
  /** What happens to runs; the history, the log and the last-run view subscribe (events/). */
  readonly events: RunEvents;
  private readonly lastRuns = new LastRuns();
  /** MAILTO: the mail of each run that ends (mail/); drained at a stop, before the history closes. */
  private readonly mail: MailRuns;
  /** The crontab's services (`service` entries): kept running, not scheduled. */
  readonly services: ServiceManager;

  constructor(private readonly options: DaemonOptions) {
    const log = options.log;
    // With --cron, the crontab (-c) is a table beside the machine's, when there is one.
    const fixed = options.crontabPath === '' ? [] : [crontabSource(options.crontabPath, options.crontabName, options.system)];
    this.jobSources = new JobSources(fixed, { log, watchDebounceMs: options.watchDebounceMs ?? 50, ...(options.cron ? { cronRoot: options.cronRoot } : {}) });
    this.store = new SafeStore(() => new SqliteStore(historyPath(options.stateDir), { keepRuns: options.keepRuns ?? DEFAULT_KEEP_RUNS, ...(options.keepDays === undefined ? {} : { keepDays: options.keepDays }) }), log);
    const clock = options.clock ?? systemClock;
    this.events = new RunEvents((error, type) => log.error({ err: error, reason: type }, 'run event subscriber failed (a bug in schedd): the others still get the event'));
    // Who hears what happens to runs: adding a subscriber is a file under events/ and one entry
    // here. Deferred ones hear a start once the whole burst is released (off the firing path).
    this.mail = mailRuns({ log, store: this.store, sendmail: options.sendmail, entry: (job) => this.scheduler.get(job)?.entry, accounts: this.accounts });
    const deferred: RunSubscriber[] = [recordRuns(this.store), logRuns(log), this.mail];
    const immediate: RunSubscriber[] = [this.lastRuns, ...(options.subscribers ?? [])];
    for (const subscriber of deferred) this.events.on(subscriber, { deferred: true });
    for (const subscriber of immediate) this.events.on(subscriber);
    this.dispatcher = new Dispatcher({ log, events: this.events, store: this.store, clock, killGraceMs: options.killGraceMs, maxConcurrent: options.maxConcurrent, cleanEnv: options.cleanEnv, baseEnv: process.env, accounts: this.accounts });
    this.services = new ServiceManager({ stateDir: options.stateDir, log, store: this.store, events: this.events, cleanEnv: options.cleanEnv, baseEnv: process.env, accounts: this.accounts });
    this.scheduler = new Scheduler(clock, this.defaultZone, {
      prepare: (job, fire) => this.dispatcher.prepare(job.entry, { kind: 'slot', scheduledAt: fire.at }),
      unprepare: (job) => this.dispatcher.unprepare(job.id),
      error: (job, error) => log.error({ job: job.id, err: error }, 'scheduler error (a bug in schedd): the job stays scheduled'),
      fire: (job, fire, cause, lateMs) => {
        if (cause !== 'on-time') {
          log.info({ job: job.id, scheduledAt: new Date(fire.at).toISOString(), lateMs, reason: cause }, `slot fired ${cause === 'dst-gap' ? 'after the DST gap' : cause === 'late' ? 'late' : 'after a clock jump'}`);
        }
        this.dispatcher.fire(job.entry, { kind: 'slot', scheduledAt: fire.at });
      },
      skip: (job, skipped) => this.events.emit(skippedSlots(job.id, skipped)),
      stalled: (stalledMs) => log.warn({ delayMs: stalledMs, reason: 'stall' }, `${stallDetail(stalledMs)}: wildcard jobs fire once for now, fixed-time slots once each`),
      clockJump: (deltaMs, kind) => log.warn({ delayMs: deltaMs, reason: kind }, `wall clock jumped ${deltaMs > 0 ? 'forward' : 'back'} by ${Math.round(Math.abs(deltaMs) / 1000)} s (${kind})`),
    });
  }

  /** Reads and installs the crontab, then starts firing. Throws with every error when invalid. */
  async start(): Promise<void> {
    try {
      await this.startUp();
    } finally {
      this.started();
    }
  }

  private async startUp(): Promise<void> {
    // The state directory was made and checked before (prepareStateDir), as the user we run as.
    const { log, crontabName } = this.options;
    const { jobs } = await this.jobSources.load({ knownAccounts: this.accounts });
    // A stop (SIGTERM) may have come while the file was read: then start nothing.
    if (this.stopping !== null) return;
    if (jobs.errorCount > 0) throw new ScheddError('SCHEDD_CRONTAB_INVALID', `${firstErrors(jobs.errors, jobs.errorCount).join('\n')}\n${crontabName}: invalid, schedd did not start`);
    this.apply(jobs);
    const { scheduled, services } = split(jobs.entries);
    // What happened while schedd was down, from the history: lost runs, missed slots.
    await markLostRuns(this.store, this.events);
    if (this.stopping !== null) return;
    // The services a scheduler that died left running are adopted before any starts.
    await this.services.start(services);
    if (this.stopping !== null) return;
    const lastSlots = await this.store.lastSlots();
    const startedAt = Date.now();
    const missed = findMissed(scheduled, (entry) => entry.zone ?? this.defaultZone, lastSlots, await this.store.lastHeartbeat(), startedAt);
    // Slots after startedAt fire (late if need be); the ones before it were just reported missed.
    this.scheduler.update(scheduled, lastSlots, startedAt);
    await this.store.heartbeat(startedAt);
    await this.store.setCrontab(this.options.crontabPath);
    this.heartbeat = setInterval(() => void this.store.heartbeat(Date.now()), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.lastReload = { at: Date.now(), ok: true, errors: [] };
    this.jobSources.watch(() => void this.reload('file changed'));
    // A save between the first read and the watch (services starting, the history's recovery)
    // fired no event: one look at the text now (nothing happens when it is as loaded).
    void this.reload('file changed');
    this.scheduler.start();
    log.info({ ...(this.options.crontabPath === '' ? {} : { crontab: this.options.crontabPath }), ...(this.options.cron ? { cron: this.options.cronRoot, tables: this.jobSources.list.length } : {}), jobs: this.scheduler.size, ...(this.services.size > 0 ? { services: this.services.size } : {}), daemonPid: process.pid }, 'schedd started');
    for (const { entry, slots } of planCatchUp(this.events, log, missed)) this.dispatcher.catchUp(entry, slots);
    if (this.stopping !== null) return;
    await this.runRebootJobs(scheduled);
  }

  /** Re-reads the crontab; an invalid file keeps the current schedule. Reloads never overlap. */
  reload(source: string): Promise<ReloadOutcome> {
    // Never rejects: a reload that throws (say, the file vanished between read and stat) is
    // reported as rejected and does not poison the reloads after it.
    this.reloading = this.reloading.then(() =>
      this.doReload(source).catch((error: Error) => {
        this.options.log.error({ err: error, reason: source }, `reload failed: ${error.message}; keeping the current schedule`);
        return { at: Date.now(), ok: false, errors: [error.message] };
      }),
    );
    return this.reloading;
  }

  private async doReload(source: string): Promise<ReloadOutcome> {
    const { log, crontabName } = this.options;
    const at = Date.now();
    if (this.stopping !== null) return { at, ok: false, errors: ['schedd is stopping'] };
    let scan: SourcesScan;
    try {
      scan = await this.jobSources.reload(source, { knownAccounts: this.accounts });
    } catch (error) {
      const message = (error as Error).message;
      log.error({ reason: source, errors: [message] }, 'reload failed: keeping the current schedule');
      return (this.lastReload = { at, ok: false, errors: [message] });
    }
    const total = scan.rejectedCount;
    // The first errors each get a record, the rest a count: a file of 200,000 errors must not
    // write 200,000 records per rejected reload.
    const errors = firstErrors(scan.rejected, total);
    const failed: ReloadOutcome = { at, ok: false, errors, ...(total > LOGGED_ERRORS ? { errorCount: total } : {}) };
    if (total > 0 && !this.options.cron) {
      for (const error of errors) log.error({ reason: source }, `reload rejected: ${error}`);
      log.error({ reason: source, errors, count: total }, `reload rejected: ${crontabName} has ${total} error${total === 1 ? '' : 's'}; keeping the current schedule`);
    }
    if (!scan.changed) {
      if (total > 0) return (this.lastReload = failed);
      if (source !== 'file changed' && scan.refused.length === 0) log.info({ reason: source }, 'crontab unchanged');
      return { at, ok: true, errors: [], unchanged: true, ...(this.lastChange === null ? {} : { lastChange: this.lastChange }) };
    }
    const jobs = scan.jobs;
    this.apply(jobs);
    const { scheduled, services } = split(jobs.entries);
    const diff = this.scheduler.update(scheduled);
    for (const id of diff.removed) this.dispatcher.forget(id);
    // An entry that became a service (or stopped being one) is changed, not added and removed.
    const serviceDiff = this.services.update(services, source);
    for (const key of ['added', 'changed', 'removed'] as const) diff[key].push(...serviceDiff[key]);
    diff.unchanged += serviceDiff.unchanged;
    const both = diff.added.filter((id) => diff.removed.includes(id));
    diff.added = diff.added.filter((id) => !both.includes(id));
    diff.removed = diff.removed.filter((id) => !both.includes(id));
    diff.changed.push(...both);
    log.info({ reason: source, added: diff.added, changed: diff.changed, removed: diff.removed, unchanged: diff.unchanged, jobs: this.scheduler.size }, 'crontab reloaded');
    this.lastChange = { at, reason: source, diff };
    // With --cron, the tables that changed validly are applied, and the invalid ones reported.
    return (this.lastReload = total > 0 ? { ...failed, diff } : { at, ok: true, errors: [], diff });
  }

  /**
   * Graceful stop: no new runs; running jobs get stopGraceMs to finish, then their process
   * groups are terminated. A second call (second signal) skips the wait.
   */
  stop(reason: string): Promise<void> {
    if (this.stopping !== null) {
      this.options.log.warn({ reason }, 'stopping now: terminating running jobs');
      this.hurry?.();
      this.services.hurry();
      return this.stopping;
    }
    const { log, stopGraceMs } = this.options;
    this.scheduler.stop();
    // The last moment slots were fired: slots from now on are missed (and caught up next time).
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    void this.store.heartbeat(Date.now());
    this.jobSources.close();
    this.dispatcher.close();
    const running = this.dispatcher.running().length;
    const services = this.services.runningCount();
    log.info({ reason, running, ...(services > 0 ? { services } : {}) }, running > 0 ? `stopping: waiting up to ${Math.round(stopGraceMs / 1000)} s for ${running} running job${running === 1 ? '' : 's'}` : 'stopping');
    // Services stop beside the jobs, each within its own stop timeout (a second stop hurries them).
    const servicesStopped = this.services.stopAll('stopped: schedd is stopping');
    // What finished runs left behind does not wait for the running jobs: it is already orphaned.
    const leftovers = this.dispatcher.killLeftovers('schedd is stopping');
    this.stopping = (async () => {
      let graceTimer: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((resolve) => {
        this.hurry = resolve;
        graceTimer = setTimeout(resolve, stopGraceMs);
      });
      await Promise.race([this.dispatcher.idle(), expired]);
      clearTimeout(graceTimer);
      if (this.dispatcher.running().length > 0) {
        log.warn({ running: this.dispatcher.running().length }, 'terminating running jobs');
        this.dispatcher.terminateAll('schedd is stopping');
        await this.dispatcher.idle();
      }
      await servicesStopped;
      // Runs that finished during the grace may have left processes too.
      await leftovers;
      await this.dispatcher.killLeftovers('schedd is stopping');
      await this.mail.close();
      await this.store.close();
      log.info({}, 'schedd stopped');
    })();
    return this.stopping;
  }

  get jobCount(): number {
    return this.scheduler.size;
  }

  /** `schedd run JOB`: a run now, under the job's overlap policy; null for an unknown job. */
  runJob(id: string): FireResult | null {
    const job = this.scheduler.get(id);
    if (job === undefined) return null;
    this.options.log.info({ job: id, reason: 'schedd run' }, 'run requested');
    return this.dispatcher.fire(job.entry, { kind: 'run', scheduledAt: Date.now() });
  }

  running(): RunningInfo[] {
    return this.dispatcher.running();
  }

  /** The zone of entries without their own (the machine's). */
  get zone(): string {
    return this.defaultZone;
  }

  /** True for the id of a service (`schedd run` does not fire those). */
  isService(id: string): boolean {
    return this.services.has(id);
  }

  /** Every job with what the daemon knows of it now. */
  jobStates(): { entry: Entry; zone: string; running: boolean; lastRun: LastRun | null }[] {
    return [...this.scheduler.all()].map((job) => ({ entry: job.entry, zone: job.zone, running: this.dispatcher.isActive(job.id), lastRun: this.lastRuns.get(job.id) }));
  }

  /** The job sources the daemon runs: the crontab, and with --cron the machine's tables found. */
  get sources(): readonly JobSource[] {
    return this.jobSources.list;
  }

  /** `--cron`: the root the cron tables are read under; null without --cron. */
  get cronRoot(): string | null {
    return this.options.cron ? this.options.cronRoot : null;
  }

  /** Tables that do not run as their files say (refused, or invalid since their last valid text). */
  tableProblems(): TableProblem[] {
    return this.jobSources.problems();
  }

  /** Jobs about to be scheduled: their accounts are kept for runs (sources/ logged their warnings). */
  private apply(jobs: LoadedJobs): void {
    for (const [name, account] of jobs.accounts) this.accounts.set(name, account);
  }

  private async runRebootJobs(entries: readonly Entry[]): Promise<void> {
    const reboot = entries.filter((entry) => entry.schedule.kind === 'reboot');
    if (reboot.length === 0) return;
    const bootId = currentBootId();
    if (this.stopping !== null) return;
    let first: boolean;
    try {
      first = await claimBoot(this.options.stateDir, bootId);
    } catch (error) {
      this.options.log.error({ err: error }, '@reboot jobs not run: cannot record the boot id in the state directory');
      return;
    }
    if (!first) {
      this.options.log.info({ count: reboot.length }, '@reboot jobs already ran in this boot');
      return;
    }
    for (const entry of reboot) this.dispatcher.fire(entry, { kind: 'reboot', scheduledAt: Date.now() });
  }
}

/** The entries the scheduler fires, and the services the service manager keeps running. */
function split(entries: readonly Entry[]): { scheduled: Entry[]; services: Entry[] } {
  const scheduled: Entry[] = [];
  const services: Entry[] = [];
  for (const entry of entries) (isService(entry) ? services : scheduled).push(entry);
  return { scheduled, services };
}
