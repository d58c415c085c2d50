import { lookupAccount, safeUserName, type Account } from '../accounts.js';
import { findMissed, markLostRuns, planCatchUp } from './recovery.js';
import { historyPath } from './pidfile.js';
import { SafeStore } from '../store/safe-store.js';
import { DEFAULT_KEEP_RUNS, SqliteStore } from '../store/sqlite-store.js';
import { dirname, resolve } from 'node:path';
import { claimBoot, currentBootId } from './boot.js';
import { Dispatcher, type FireResult, type LastRun, type RunningInfo } from './dispatcher.js';
import { watchCrontab } from './watch.js';
import { errorCount, firstErrors, formatDiagnostic, LOGGED_ERRORS, readCrontabText } from '../crontab-file.js';
import { parseCrontab } from '../crontab/parse.js';
import type { Entry, ParsedCrontab } from '../crontab/types.js';
import { ScheddError } from '../errors.js';
import type { Log } from '../log.js';
import { systemClock, type Clock } from '../schedule/clock.js';
import { Scheduler, stallDetail, type ReloadDiff } from '../schedule/scheduler.js';
import { systemZone } from '../schedule/zone.js';

/** How long a crontab that looks cut short (empty, or no final newline) is left to settle. */
const INCOMPLETE_SETTLE_MS = 200;


/** How often the daemon notes that it is alive: the start of a downtime is known to this. */
const HEARTBEAT_MS = 30_000;

export interface DaemonOptions {
  crontabPath: string;
  /** The path as the user gave it, for messages. */
  crontabName: string;
  stateDir: string;
  system: boolean;
  cleanEnv: boolean;
  maxConcurrent: number | null;
  killGraceMs: number;
  stopGraceMs: number;
  log: Log;
  clock?: Clock;
  /** Debounce of file-change events before a reload. */
  watchDebounceMs?: number;
  /** Run history retention: records kept per job, and at most this many days old. */
  keepRuns?: number;
  keepDays?: number;
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
  private text = '';
  private watcher: { close(): void } | null = null;
  private stopping: Promise<void> | null = null;
  private hurry: (() => void) | null = null;
  private reloading: Promise<ReloadOutcome> = Promise.resolve({ at: 0, ok: true, errors: [] });
  /** Accounts of the users that jobs run as, resolved when the crontab is loaded. */
  private readonly accounts = new Map<string, Account>();
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly defaultZone = systemZone();
  readonly store: SafeStore;

  constructor(private readonly options: DaemonOptions) {
    const log = options.log;
    this.store = new SafeStore(() => new SqliteStore(historyPath(options.stateDir), { keepRuns: options.keepRuns ?? DEFAULT_KEEP_RUNS, ...(options.keepDays === undefined ? {} : { keepDays: options.keepDays }) }), log);
    this.dispatcher = new Dispatcher({ log, killGraceMs: options.killGraceMs, maxConcurrent: options.maxConcurrent, cleanEnv: options.cleanEnv, baseEnv: process.env, accounts: this.accounts, recorder: this.store });
    this.scheduler = new Scheduler(options.clock ?? systemClock, this.defaultZone, {
      prepare: (job, fire) => this.dispatcher.prepare(job.entry, fire.at),
      unprepare: (job) => this.dispatcher.unprepare(job.id),
      error: (job, error) => log.error({ job: job.id, err: error }, 'scheduler error (a bug in schedd): the job stays scheduled'),
      fire: (job, fire, cause, lateMs) => {
        if (cause !== 'on-time') {
          log.info({ job: job.id, scheduledAt: new Date(fire.at).toISOString(), lateMs, reason: cause }, `slot fired ${cause === 'dst-gap' ? 'after the DST gap' : cause === 'late' ? 'late' : 'after a clock jump'}`);
        }
        this.dispatcher.fire(job.entry, fire.at);
      },
      skip: (job, skipped) => {
        this.store.notRun(job.id, skipped.firstAt, skipped.outcome, `${skipped.atLeast ? 'at least ' : ''}${skipped.count} slot${skipped.count === 1 ? '' : 's'} up to ${new Date(skipped.lastAt).toISOString()}: ${skipped.detail}`);
        log.warn(
          { job: job.id, count: skipped.count, reason: skipped.reason, scheduledAt: new Date(skipped.firstAt).toISOString() },
          `slots ${skipped.outcome}: ${skipped.atLeast ? 'at least ' : ''}${skipped.count} between ${new Date(skipped.firstAt).toISOString()} and ${new Date(skipped.lastAt).toISOString()} (${skipped.detail})`,
        );
      },
      stalled: (stalledMs) => log.warn({ delayMs: stalledMs, reason: 'stall' }, `${stallDetail(stalledMs)}: wildcard jobs fire once for now, fixed-time slots once each`),
      clockJump: (deltaMs, kind) => log.warn({ delayMs: deltaMs, reason: kind }, `wall clock jumped ${deltaMs > 0 ? 'forward' : 'back'} by ${Math.round(Math.abs(deltaMs) / 1000)} s (${kind})`),
    });
  }

  /** Reads and installs the crontab, then starts firing. Throws with every error when invalid. */
  async start(): Promise<void> {
    // The state directory was made and checked before (prepareStateDir), as the user we run as.
    const { log, crontabName } = this.options;
    this.text = await readCrontabText(this.options.crontabPath, crontabName);
    // A stop (SIGTERM) may have come while the file was read: then start nothing.
    if (this.stopping !== null) return;
    const parsed = this.parse(this.text);
    const { errors, total } = this.errors(parsed);
    if (total > 0) throw new ScheddError('SCHEDD_CRONTAB_INVALID', `${firstErrors(errors, total).join('\n')}\n${crontabName}: invalid, schedd did not start`);
    // What happened while schedd was down, from the history: lost runs, missed slots.
    markLostRuns(this.store, log);
    const lastSlots = await this.store.lastSlots();
    const startedAt = Date.now();
    const missed = findMissed(parsed.entries, (entry) => entry.zone ?? this.defaultZone, lastSlots, await this.store.lastHeartbeat(), startedAt);
    // Slots after startedAt fire (late if need be); the ones before it were just reported missed.
    this.scheduler.update(parsed.entries, lastSlots, startedAt);
    await this.store.heartbeat(startedAt);
    await this.store.setCrontab(this.options.crontabPath);
    this.heartbeat = setInterval(() => void this.store.heartbeat(Date.now()), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.lastReload = { at: Date.now(), ok: true, errors: [] };
    this.watcher = watchCrontab(this.options.crontabPath, this.options.watchDebounceMs ?? 50, () => void this.reload('file changed'), (error) => log.error({ err: error }, 'cannot watch the crontab; reload with SIGHUP'));
    this.scheduler.start();
    log.info({ crontab: this.options.crontabPath, jobs: this.scheduler.size, daemonPid: process.pid }, 'schedd started');
    for (const { entry, slots } of planCatchUp(this.store, log, missed)) this.dispatcher.catchUp(entry, slots);
    if (this.stopping !== null) return;
    await this.runRebootJobs(parsed);
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
    let text: string;
    try {
      text = await this.readSettled(source);
    } catch (error) {
      const message = (error as Error).message;
      log.error({ reason: source, errors: [message] }, 'reload failed: keeping the current schedule');
      return (this.lastReload = { at, ok: false, errors: [message] });
    }
    if (text === this.text) {
      if (source !== 'file changed') log.info({ reason: source }, 'crontab unchanged');
      return { at, ok: true, errors: [], unchanged: true, ...(this.lastChange === null ? {} : { lastChange: this.lastChange }) };
    }
    const parsed = this.parse(text);
    const { errors: all, total } = this.errors(parsed);
    if (total > 0) {
      // The first errors each get a record, the rest a count: a file of 200,000 errors must not
      // write 200,000 records per rejected reload.
      const errors = firstErrors(all, total);
      for (const error of errors) log.error({ reason: source }, `reload rejected: ${error}`);
      log.error({ reason: source, errors, count: total }, `reload rejected: ${crontabName} has ${total} error${total === 1 ? '' : 's'}; keeping the current schedule`);
      return (this.lastReload = { at, ok: false, errors, ...(total > LOGGED_ERRORS ? { errorCount: total } : {}) });
    }
    this.text = text;
    const diff = this.scheduler.update(parsed.entries);
    for (const id of diff.removed) this.dispatcher.forget(id);
    log.info({ reason: source, added: diff.added, changed: diff.changed, removed: diff.removed, unchanged: diff.unchanged, jobs: this.scheduler.size }, 'crontab reloaded');
    this.lastChange = { at, reason: source, diff };
    return (this.lastReload = { at, ok: true, errors: [], diff });
  }

  /**
   * The crontab's text, read again while it looks cut short: a file rewritten in place is empty
   * (or ends mid-line) between the writer's truncate and its write, and applying that read would
   * drop every job until the next reload. Two reads that agree, INCOMPLETE_SETTLE_MS apart, are
   * taken as meant (an emptied crontab is applied, a little later).
   */
  private async readSettled(source: string): Promise<string> {
    let text = await readCrontabText(this.options.crontabPath, this.options.crontabName);
    for (let tries = 0; tries < 5 && text !== this.text && (text === '' || !text.endsWith('\n')); tries++) {
      this.options.log.info({ reason: source, delayMs: INCOMPLETE_SETTLE_MS }, `crontab looks incomplete (${text === '' ? 'empty' : 'no final newline'}); reading it again`);
      await new Promise((resolve) => setTimeout(resolve, INCOMPLETE_SETTLE_MS));
      const again = await readCrontabText(this.options.crontabPath, this.options.crontabName);
      if (again === text) break;
      text = again;
    }
    return text;
  }

  /**
   * Graceful stop: no new runs; running jobs get stopGraceMs to finish, then their process
   * groups are terminated. A second call (second signal) skips the wait.
   */
  stop(reason: string): Promise<void> {
    if (this.stopping !== null) {
      this.options.log.warn({ reason }, 'stopping now: terminating running jobs');
      this.hurry?.();
      return this.stopping;
    }
    const { log, stopGraceMs } = this.options;
    this.scheduler.stop();
    // The last moment slots were fired: slots from now on are missed (and caught up next time).
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    void this.store.heartbeat(Date.now());
    this.watcher?.close();
    this.dispatcher.close();
    const running = this.dispatcher.running().length;
    log.info({ reason, running }, running > 0 ? `stopping: waiting up to ${Math.round(stopGraceMs / 1000)} s for ${running} running job${running === 1 ? '' : 's'}` : 'stopping');
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
      // Runs that finished during the grace may have left processes too.
      await leftovers;
      await this.dispatcher.killLeftovers('schedd is stopping');
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
    return this.dispatcher.fire(job.entry, Date.now());
  }

  running(): RunningInfo[] {
    return this.dispatcher.running();
  }

  /** Every job with what the daemon knows of it now. */
  jobStates(): { entry: Entry; zone: string; running: boolean; lastRun: LastRun | null }[] {
    return [...this.scheduler.all()].map((job) => ({ entry: job.entry, zone: job.zone, running: this.dispatcher.isActive(job.id), lastRun: this.dispatcher.lastRun(job.id) }));
  }

  private parse(text: string): ParsedCrontab {
    const parsed = parseCrontab(text, { system: this.options.system });
    const folder = dirname(this.options.crontabPath);
    for (const entry of parsed.entries) {
      if (entry.options.cwd !== undefined) entry.options.cwd = resolve(folder, entry.options.cwd);
    }
    return parsed;
  }

  /**
   * The file's errors as lines (the ones the parser kept) and their total. Whether the file
   * itself may be trusted (owner, mode, directories) was settled when it was read, from the
   * descriptor it was read from (readCrontabText).
   */
  private errors(parsed: ParsedCrontab): { errors: string[]; total: number } {
    const errors = parsed.diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(this.options.crontabName, d));
    const accounts = this.accountErrors(parsed);
    return { errors: [...errors, ...accounts], total: errorCount(parsed) + accounts.length };
  }

  /** Jobs for other users need root and users that exist; their accounts are kept for runs. */
  private accountErrors(parsed: ParsedCrontab): string[] {
    const errors: string[] = [];
    const root = process.getuid?.() === 0;
    for (const entry of parsed.entries) {
      const name = entry.user ?? entry.options.user;
      if (name === undefined) continue;
      const where = `${this.options.crontabName}:${entry.line}:${entry.userCol ?? 1}`;
      if (!root) {
        // Running every job as schedd's own user is what a user crontab means.
        if (name === safeUserName()) continue;
        errors.push(`${where}: cannot run jobs as '${name}': schedd is not running as root (expected no user, or start schedd as root)`);
        continue;
      }
      const account = this.accounts.get(name) ?? lookupAccount(name);
      if (account === null) errors.push(`${where}: unknown user '${name}' (expected an account on this machine)`);
      else this.accounts.set(name, account);
    }
    return errors;
  }

  private async runRebootJobs(parsed: ParsedCrontab): Promise<void> {
    const reboot = parsed.entries.filter((entry) => entry.schedule.kind === 'reboot');
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
    for (const entry of reboot) this.dispatcher.fire(entry, Date.now());
  }
}
