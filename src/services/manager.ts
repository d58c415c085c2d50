/*
 * The services of the crontab (`service` entries), kept running beside the scheduler's jobs:
 * one Service per entry, one Instance (instance.ts) per copy. The manager applies each loaded
 * crontab (start what is new, stop what is gone, restart what changed, one instance at a time),
 * watches the files services name, adopts the processes a scheduler that died left running,
 * and answers the `services` and `service` control commands.
 */
import type { Account } from '../accounts.js';
import type { Entry } from '../crontab/types.js';
import { RunSpawner } from '../dispatch/spawn-run.js';
import type { RunEvents } from '../events/run-events.js';
import type { Log } from '../log.js';
import { startRun, type RunHandle } from '../runner/index.js';
import { terminateGroup } from '../runner/process-group.js';
import type { SafeStore } from '../store/safe-store.js';
import { isRecordedProcess, readInstanceRecords, removeInstanceRecord, type InstanceRecord } from './adoption.js';
import { finishedRun, Instance, type InstanceContext, type InstanceState, type ServiceDefinition, type StopRequest } from './instance.js';
import { definitionKey, execsProgram, serviceCommand, serviceSpec, SERVICE_DEFAULTS, type ServiceSpec } from './spec.js';
import { ContentWatch } from './watch.js';

export interface ServiceManagerOptions {
  stateDir: string;
  log: Log;
  store: SafeStore;
  events: RunEvents;
  cleanEnv: boolean;
  baseEnv: NodeJS.ProcessEnv;
  accounts: ReadonlyMap<string, Account>;
  /** Debounce of a watched file's changes [1 s]. */
  watchDebounceMs?: number;
}

/** One instance as `schedd services` shows it. */
export interface ServiceInstanceInfo {
  id: string;
  instance: number;
  instances: number;
  state: InstanceState;
  pid: number | null;
  startedAt: number | null;
  restarts: number;
  nextTryAt: number | null;
  lastExit: { at: number; exitCode: number | null; signal: string | null; reason: string } | null;
}

export interface ServiceDiff {
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: number;
}

class Service implements ServiceDefinition {
  entry: Entry;
  spec: ServiceSpec;
  key: string;
  readonly instances: Instance[] = [];
  watch: ContentWatch | null = null;
  /** Bumped by each rollout: an older one stops where it is. */
  rollout = 0;
  /** Restarts of single instances (their lifetime over), one after another. */
  queue: Promise<unknown> = Promise.resolve();

  constructor(entry: Entry) {
    this.entry = entry;
    this.spec = serviceSpec(entry);
    this.key = definitionKey(entry);
  }

  get id(): string {
    return this.entry.id;
  }

  get wrapped(): boolean {
    return !execsProgram(this.entry.command);
  }
}

export class ServiceManager {
  private readonly services = new Map<string, Service>();
  /** Instances stopping because they left the crontab (see retire). */
  private readonly retiring = new Set<{ id: string; instances: number; instance: Instance }>();
  private stopping = false;
  private readonly runs: RunSpawner;

  constructor(private readonly options: ServiceManagerOptions) {
    const { events, cleanEnv, baseEnv, accounts } = options;
    this.runs = new RunSpawner({ spawner: startRun, events, killGraceMs: 0, cleanEnv, baseEnv, accounts });
  }

  get size(): number {
    return this.services.size;
  }

  entries(): Entry[] {
    return [...this.services.values()].map((service) => service.entry);
  }

  has(id: string): boolean {
    return this.services.has(id);
  }

  /**
   * The first load: the instances a scheduler that died left running are adopted (their
   * definition unchanged) or stopped (changed, or no longer in the crontab) before any
   * instance starts, so there are never two copies of one.
   */
  async start(entries: readonly Entry[]): Promise<void> {
    const { log, stateDir, store } = this.options;
    const byId = new Map(entries.map((entry) => [entry.id, entry]));
    let records: InstanceRecord[] = [];
    try {
      records = readInstanceRecords(stateDir, (name, why) => log.warn({ file: name, reason: why }, 'service record unreadable: removed'));
    } catch (error) {
      log.error({ err: error }, 'cannot read the service records in the state directory');
    }
    const adopted = new Map<string, InstanceRecord>();
    const ends: Promise<unknown>[] = [];
    for (const record of records) {
      const entry = byId.get(record.job);
      const alive = isRecordedProcess(record);
      const fits = entry !== undefined && definitionKey(entry) === record.key && record.instance < serviceSpec(entry).instances;
      if (alive && fits) {
        adopted.set(`${record.job}\0${record.instance}`, record);
        continue;
      }
      if (!alive) {
        removeInstanceRecord(stateDir, record.job, record.instance);
        void store.serviceLost(record.runId, 'gone: ended while no scheduler watched it (exit status unknown)', Date.now());
        continue;
      }
      // Alive, but no longer what the crontab says: stopped before its successor starts.
      const spec = entry === undefined ? null : serviceSpec(entry);
      const why = entry === undefined ? 'stopped: no longer in the crontab' : 'restarted for a crontab edit made while no scheduler watched it';
      log.info({ job: record.job, instance: record.instance, pid: record.pid, reason: why }, 'service stopping: left running by a scheduler that died');
      ends.push(
        terminateGroup(record.pid, spec?.stopTimeoutMs ?? SERVICE_DEFAULTS.stopTimeoutMs, 20, spec?.stopSignal ?? SERVICE_DEFAULTS.stopSignal).done.then((how) => {
          // Only now: a stop or crash during the wait must leave it findable by the next scheduler.
          removeInstanceRecord(stateDir, record.job, record.instance);
          return store.finished(record.runId, finishedRun(null, null, how === 'killed' ? 'killed' : 'ok', record.startedAt, Date.now(), `${why} (status unknown: not this scheduler's child)`));
        }),
      );
    }
    // Rows in flight without a record (written before it, or the record could not be): lost.
    const known = new Set(records.map((record) => record.runId));
    for (const run of await store.servicesInFlight()) {
      if (!known.has(run.runId)) void store.serviceLost(run.runId, 'gone: the scheduler that started it died (exit status unknown)', Date.now());
    }
    await Promise.all(ends);
    if (this.stopping) return;
    this.apply(entries, 'schedd started', adopted);
  }

  /** A reload: what changed in the services. */
  update(entries: readonly Entry[], reason: string): ServiceDiff {
    return this.apply(entries, reason, new Map());
  }

  private apply(entries: readonly Entry[], reason: string, adopted: ReadonlyMap<string, InstanceRecord>): ServiceDiff {
    const diff: ServiceDiff = { added: [], changed: [], removed: [], unchanged: 0 };
    if (this.stopping) return diff;
    const seen = new Set<string>();
    for (const entry of entries) {
      seen.add(entry.id);
      const current = this.services.get(entry.id);
      if (current === undefined) {
        const service = new Service(entry);
        this.services.set(entry.id, service);
        this.resize(service, adopted, reason === 'schedd started' ? 'schedd started' : `added by ${reason}`);
        this.watch(service);
        diff.added.push(entry.id);
        continue;
      }
      const key = definitionKey(entry);
      const changed = key !== current.key;
      const spec = serviceSpec(entry);
      const watchChanged = current.spec.watch.join('\0') !== spec.watch.join('\0');
      const countChanged = spec.instances !== current.spec.instances;
      current.entry = entry;
      current.spec = spec;
      current.key = key;
      if (watchChanged) this.watch(current);
      if (countChanged) this.resize(current, adopted, `instances=${current.spec.instances}`);
      if (changed) {
        diff.changed.push(entry.id);
        // Failed at its start limit (perhaps the edit is the fix): started now.
        for (const instance of current.instances) instance.restartEdited('restarted for a crontab edit');
        void this.rollOut(current, 'restarted for a crontab edit', (instance) => instance.runningKey !== null && instance.runningKey !== current.key);
      } else if (countChanged) diff.changed.push(entry.id);
      else diff.unchanged++;
    }
    for (const [id, service] of this.services) {
      if (seen.has(id)) continue;
      diff.removed.push(id);
      this.services.delete(id);
      service.watch?.close();
      service.rollout++;
      for (const instance of service.instances) this.retire(service, instance, 'stopped: removed from the crontab');
    }
    return diff;
  }

  /** Starts the instances up to the count (adopting what a dead scheduler left), stops those past it. */
  private resize(service: Service, adopted: ReadonlyMap<string, InstanceRecord>, why: string): void {
    const count = service.spec.instances;
    while (service.instances.length < count) {
      const instance = new Instance(service.instances.length, () => service, this.context(service));
      service.instances.push(instance);
      const record = adopted.get(`${service.id}\0${instance.index}`);
      if (record !== undefined) instance.adopt(record);
      else this.startWhenFree(service, instance, why);
    }
    for (const instance of service.instances.splice(count)) this.retire(service, instance, `stopped: ${why}`);
  }

  /**
   * Starts an instance once no earlier copy of it is still stopping (a service removed and added
   * again, an `instances=` lowered and raised again): never two processes of one instance.
   */
  private startWhenFree(service: Service, instance: Instance, why: string): void {
    const earlier = [...this.retiring].find((r) => r.id === service.id && r.instance.index === instance.index);
    if (earlier === undefined) return instance.start(why);
    void earlier.instance.until((state) => state === 'stopped').then(() => {
      if (!this.stopping && this.services.get(service.id) === service && service.instances[instance.index] === instance) this.startWhenFree(service, instance, why);
    });
  }

  /**
   * Stops an instance that has left the crontab (its service removed, or past a smaller
   * `instances=`): until it has exited it is still shown, and still waited for by a stop.
   */
  private retire(service: Service, instance: Instance, reason: string): void {
    const retiring = { id: service.id, instances: service.instances.length, instance };
    this.retiring.add(retiring);
    void instance.stop({ reason, then: 'stop' }).then(() => this.retiring.delete(retiring));
  }

  private watch(service: Service): void {
    service.watch?.close();
    service.watch = null;
    const { watch, watchAction } = service.spec;
    if (watch.length === 0) return;
    service.watch = new ContentWatch(watch, this.options.watchDebounceMs ?? SERVICE_DEFAULTS.watchDebounceMs, (changed) => {
      if (this.stopping || this.services.get(service.id) !== service) return;
      const what = changed.join(', ');
      this.options.log.info({ job: service.id, changed, reason: watchAction }, `watched file changed: ${watchAction === 'reload' ? 'reloading' : 'restarting'} ${service.id}`);
      if (watchAction === 'reload' && service.spec.reloadSignal !== null) {
        for (const instance of service.instances) instance.signal(service.spec.reloadSignal);
      } else {
        void this.rollOut(service, `restarted for a change of ${what}`, (instance) => instance.runningKey !== null);
      }
    });
  }

  /**
   * A rolling restart: one instance at a time, the next only once the one before runs again
   * (so at most one is down); a later rollout of the same service takes over from this one.
   * An instance that crashes as it comes up holds the rollout until its restarts bring it up;
   * one that does not come up at all (failed, stopped) stops the rollout: the others keep their
   * processes, which work.
   */
  private async rollOut(service: Service, reason: string, needs: (instance: Instance) => boolean, only?: number): Promise<InstanceState[]> {
    // A restart of one instance does not take over (and so end) a rollout of the whole service.
    const generation = only === undefined ? ++service.rollout : service.rollout;
    const done = new Set<Instance>();
    const states: InstanceState[] = [];
    // Down, for the count of "at most one down": being stopped, coming up, or waiting to restart.
    const settling = (state: InstanceState): boolean => state === 'stopping' || state === 'starting' || state === 'backoff';
    for (;;) {
      // One taken over from an earlier rollout (or a crash) may have an instance down: it comes
      // back up first, so that never two are down at once.
      for (const instance of service.instances) if (settling(instance.state)) await instance.until((state) => !settling(state));
      if ((only === undefined && service.rollout !== generation) || this.stopping) return states;
      const next = service.instances.find((instance) => !done.has(instance) && (only === undefined || instance.index === only) && needs(instance));
      if (next === undefined) return states;
      done.add(next);
      let state = await next.stop({ reason, then: 'start' });
      // Crashed as it came up: the rollout goes on once it runs (its own restarts bring it back).
      if (state === 'backoff') state = await next.until((s) => s === 'running' || s === 'failed' || s === 'stopped');
      states.push(state);
      if (state !== 'running') {
        if (service.rollout === generation && service.instances.some((instance) => !done.has(instance) && needs(instance))) {
          this.options.log.error({ job: service.id, instance: next.index, reason: state }, `rolling restart of ${service.id} stopped: instance ${next.index} did not come up (${state}); the others keep running as they were`);
        }
        return states;
      }
    }
  }

  private context(service: Service): InstanceContext {
    const { stateDir, log, store, events } = this.options;
    return {
      stateDir,
      log,
      store,
      events,
      spawn: (instance, runId, startedAt, output) => this.spawn(service, instance, runId, startedAt, output),
      // Instances started together reach their lifetime together: restarted one at a time.
      lifetimeOver: (instance, reason) => {
        service.queue = service.queue.then(() => (this.stopping || !service.instances.includes(instance) || instance.runningKey === null ? undefined : instance.stop({ reason, then: 'start' })));
      },
    };
  }

  private spawn(service: Service, instance: number, runId: string, startedAt: number, output: { stdout: number; stderr: number }): RunHandle {
    const { entry, spec } = service;
    // A job's process (shell, environment, cwd, account), as a service: its command exec'd,
    // its output to its files, stopped its own way; timeout= is its lifetime (instance.ts), not a run's.
    const { timeoutMs: _, ...run } = this.runs.spec(entry, runId, startedAt, false);
    run.env.SCHEDD_INSTANCE = String(instance);
    return startRun({ ...run, command: serviceCommand(entry.command), killGraceMs: spec.stopTimeoutMs, stopSignal: spec.stopSignal, output });
  }

  list(): ServiceInstanceInfo[] {
    const rows: ServiceInstanceInfo[] = [];
    for (const service of this.services.values()) {
      for (const instance of service.instances) {
        const view = instance.view();
        rows.push({ id: service.id, instance: instance.index, instances: service.instances.length, state: view.state, pid: view.pid, startedAt: view.startedAt, restarts: view.restarts, nextTryAt: view.nextTryAt, lastExit: view.lastExit });
      }
    }
    for (const { id, instances, instance } of this.retiring) {
      const view = instance.view();
      rows.push({ id, instance: instance.index, instances, state: view.state, pid: view.pid, startedAt: view.startedAt, restarts: view.restarts, nextTryAt: view.nextTryAt, lastExit: view.lastExit });
    }
    return rows;
  }

  /** How many instances of a service are up (starting or running), for `list`. */
  upCount(id: string): { up: number; instances: number } | null {
    const service = this.services.get(id);
    if (service === undefined) return null;
    return { up: service.instances.filter((i) => i.state === 'running' || i.state === 'starting').length, instances: service.instances.length };
  }

  /** The instances a command addresses; throws a message for the user when there are none. */
  private select(name: string, instance: number | undefined): { service: Service; instances: Instance[] } {
    const service = this.services.get(name);
    if (service === undefined) throw new Error(`no service '${name}' (see schedd services)`);
    if (instance === undefined) return { service, instances: service.instances };
    const one = service.instances[instance];
    const count = service.instances.length;
    if (one === undefined) throw new Error(`service '${name}' has no instance ${instance} (expected ${count === 1 ? '0, its only one' : `0..${count - 1}`})`);
    return { service, instances: [one] };
  }

  /** `schedd service start`: starts what is stopped, failed or waiting to restart; resolves once each is up or did not come up. */
  async startService(name: string, instance?: number): Promise<InstanceState[]> {
    const { instances } = this.select(name, instance);
    if (this.stopping) throw new Error('schedd is stopping');
    for (const one of instances) one.start('schedd service start');
    return Promise.all(instances.map((one) => one.until((state) => state !== 'starting' && state !== 'stopping')));
  }

  async stopService(name: string, instance?: number): Promise<InstanceState[]> {
    const { service, instances } = this.select(name, instance);
    if (instance === undefined) service.rollout++;
    return Promise.all(instances.map((one) => one.stop({ reason: 'stopped by schedd service stop', then: 'stop' })));
  }

  /** A rolling restart of the running instances (all of them, or one); stopped ones start. */
  async restartService(name: string, instance?: number): Promise<InstanceState[]> {
    const { service, instances } = this.select(name, instance);
    if (this.stopping) throw new Error('schedd is stopping');
    // The running ones are restarted; the others started (and not restarted again after).
    const running = instances.filter((one) => one.runningKey !== null);
    const idle = instances.filter((one) => one.runningKey === null);
    for (const one of idle) one.start('schedd service restart');
    const waiting = idle.map((one) => one.until((state) => state !== 'starting' && state !== 'stopping'));
    const rolled = await this.rollOut(service, 'restarted by schedd service restart', (one) => one.runningKey !== null && running.includes(one), instance);
    return [...rolled, ...(await Promise.all(waiting))];
  }

  /** Sends `signal` (the reload signal when null) to each instance's process; how many got it. */
  signalService(name: string, signal: NodeJS.Signals | null, instance?: number): number {
    const { service, instances } = this.select(name, instance);
    const sent = signal ?? service.spec.reloadSignal;
    if (sent === null) throw new Error(`service '${name}' has no reload signal (expected reload-signal= in its options, e.g. reload-signal=HUP)`);
    let count = 0;
    for (const one of instances) if (one.signal(sent)) count++;
    if (count === 0) throw new Error(`service '${name}' has no running process to signal`);
    this.options.log.info({ job: name, signal: sent, count }, signal === null ? 'service reloaded' : 'service signalled');
    return count;
  }

  /** Stops every instance in parallel, each within its stop timeout. */
  stopAll(reason: string): Promise<void> {
    this.stopping = true;
    const all: Promise<unknown>[] = [];
    for (const service of this.services.values()) {
      service.watch?.close();
      service.rollout++;
      for (const instance of service.instances) all.push(instance.stop({ reason, then: 'stop' }));
    }
    for (const { instance } of this.retiring) all.push(instance.until((state) => state === 'stopped'));
    return Promise.all(all).then(() => undefined);
  }

  /** The second stop: SIGKILL to every instance still stopping. */
  hurry(): void {
    for (const service of this.services.values()) for (const instance of service.instances) instance.hurry();
    for (const { instance } of this.retiring) instance.hurry();
  }

  /** The running count, for `schedd stop`'s log line. */
  runningCount(): number {
    let count = 0;
    for (const service of this.services.values()) for (const instance of service.instances) if (instance.pid !== null) count++;
    for (const { instance } of this.retiring) if (instance.pid !== null) count++;
    return count;
  }
}
export type { StopRequest };
