import type { Daemon } from './daemon.js';
import type { DaemonApi } from '../control/api.js';
import type { ServiceInstanceView, StatusResult } from '../control/commands.js';
import type { ServiceInstanceInfo } from '../services/manager.js';
import { ScheddError } from '../errors.js';
import { jobView, lastRunView } from '../job-view.js';
import type { Log } from '../log.js';

/** What the service knows that the Daemon does not: its process, supervision and log. */
export interface ApiContext {
  stateDir: string;
  pidfilePid: number;
  restarts: number;
  unsupervisedSince?: string | null;
  log: Log;
  requestStop(): void;
}

/** Each table with how many of its entries run, and what is wrong with it. */
function sourceViews(daemon: Daemon): StatusResult['sources'] {
  const counts = new Map<string, number>();
  const count = (entry: { source?: string }): void => void counts.set(entry.source ?? '', (counts.get(entry.source ?? '') ?? 0) + 1);
  for (const { entry } of daemon.jobStates()) count(entry);
  for (const entry of daemon.services.entries()) count(entry);
  const problems = new Map(daemon.tableProblems().map((problem) => [problem.source.id, problem]));
  return daemon.sources.map(({ id, path }) => {
    const problem = problems.get(id);
    return { id, path, jobs: counts.get(id) ?? 0, ...(problem === undefined ? {} : { problem: { kind: problem.kind, messages: problem.messages.slice(0, 20), count: problem.count } }) };
  });
}

/** The daemon's answers to control requests (served by the control socket). */
export function daemonApi(daemon: Daemon, context: ApiContext): DaemonApi {
  return {
    async ping() {
      return { pong: true };
    },
    async status() {
      const reload = daemon.lastReload;
      const status: StatusResult = {
        pid: context.pidfilePid,
        schedulerPid: process.pid,
        startedAt: new Date(daemon.startedAt).toISOString(),
        crontab: daemon.sources.find((source) => source.table === undefined)?.path ?? '',
        sources: sourceViews(daemon),
        ...(daemon.cronRoot === null ? {} : { cron: daemon.cronRoot }),
        stateDir: context.stateDir,
        jobs: daemon.jobCount,
        ...serviceCounts(daemon.services.list(), daemon.services.size),
        running: daemon.running().map((r) => ({ job: r.job, run: r.run, pid: r.pid, startedAt: new Date(r.startedAt).toISOString() })),
        restarts: context.restarts,
        lastReload: reload === null ? null : { at: new Date(reload.at).toISOString(), ok: reload.ok, errors: reload.errors, ...(reload.errorCount === undefined ? {} : { errorCount: reload.errorCount }) },
        unsupervisedSince: context.unsupervisedSince ?? null,
        logRecordsDropped: context.log.dropped,
      };
      return status;
    },
    async list() {
      const now = Date.now();
      // The history knows runs from before this daemon started; memory covers a broken store.
      const recorded = await daemon.store.lastRuns();
      const jobs = daemon.jobStates().map(({ entry, zone, running, lastRun }) => {
        const { nextMs: _, ...view } = jobView(entry, now, zone);
        return { ...view, running, lastRun: lastRunView(recorded.get(entry.id)) ?? lastRunView(lastRun) };
      });
      for (const entry of daemon.services.entries()) {
        const { nextMs: _, ...view } = jobView(entry, now, entry.zone ?? daemon.zone);
        const service = daemon.services.upCount(entry.id) ?? { up: 0, instances: 0 };
        jobs.push({ ...view, running: service.up > 0, lastRun: lastRunView(recorded.get(entry.id)), service });
      }
      // Grouped by table, in the order the tables were found, each in file order.
      const order = new Map(daemon.sources.map((source, i) => [source.id, i]));
      const rank = (view: { table?: string }): number => order.get(view.table ?? '') ?? order.size;
      jobs.sort((a, b) => rank(a) - rank(b) || a.line - b.line);
      return jobs;
    },
    async run({ job }) {
      if (daemon.isService(job)) throw new ScheddError('SCHEDD_IS_SERVICE', `'${job}' is a service, kept running rather than run (expected schedd service start|stop|restart ${job})`);
      const result = daemon.runJob(job);
      if (result === null) throw new ScheddError('SCHEDD_UNKNOWN_JOB', `no job '${job}' (see schedd list)`);
      return result;
    },
    async reload() {
      const outcome = await daemon.reload('schedd reload');
      const diff = outcome.diff ?? { added: [], changed: [], removed: [], unchanged: 0 };
      // Unchanged often means the watcher applied the save first: say what that reload did.
      const last = outcome.lastChange;
      const lastChange = last === undefined ? {} : { lastChange: { at: new Date(last.at).toISOString(), reason: last.reason, added: last.diff.added, changed: last.diff.changed, removed: last.diff.removed } };
      return { ok: outcome.ok, errors: outcome.errors, fileUnchanged: outcome.unchanged === true, added: diff.added, changed: diff.changed, removed: diff.removed, unchangedJobs: diff.unchanged, ...lastChange };
    },
    async 'reopen-log'() {
      context.log.reopen();
      context.log.info({ reason: 'schedd control' }, 'log reopened');
      return { reopened: true };
    },
    async services() {
      return { services: daemon.services.list().map(instanceView) };
    },
    async service({ action, name, instance, signal }) {
      const services = daemon.services;
      let signalled: number | undefined;
      try {
        if (action === 'start') await services.startService(name, instance);
        else if (action === 'stop') await services.stopService(name, instance);
        else if (action === 'restart') await services.restartService(name, instance);
        else signalled = services.signalService(name, action === 'reload' ? null : (signal as NodeJS.Signals), instance);
      } catch (error) {
        throw new ScheddError('SCHEDD_SERVICE', (error as Error).message);
      }
      const instances = services.list().filter((row) => row.id === name && (instance === undefined || row.instance === instance)).map(instanceView);
      // Done, but not as asked: a start or restart whose process did not come up.
      const down = instances.filter((row) => row.state !== 'running');
      if ((action === 'start' || action === 'restart') && down.length > 0) {
        const first = down[0]!;
        throw new ScheddError('SCHEDD_SERVICE', `${name}${first.instances > 1 ? ` instance ${first.instance}` : ''} did not come up: ${first.state}${first.lastExit === null ? '' : ` (${first.lastExit.reason})`}`);
      }
      if (action === 'stop' && instances.some((row) => row.state !== 'stopped')) throw new ScheddError('SCHEDD_SERVICE', `${name} did not stop`);
      return { action, name, instances, ...(signalled === undefined ? {} : { signalled }) };
    },
    async stop() {
      context.requestStop();
      return { stopping: true, pid: context.pidfilePid, schedulerPid: process.pid };
    },
  };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function instanceView(row: ServiceInstanceInfo): ServiceInstanceView {
  const { lastExit } = row;
  return {
    id: row.id,
    instance: row.instance,
    instances: row.instances,
    state: row.state,
    pid: row.pid,
    startedAt: iso(row.startedAt),
    uptimeMs: row.startedAt === null ? null : Date.now() - row.startedAt,
    restarts: row.restarts,
    nextTryAt: iso(row.nextTryAt),
    lastExit: lastExit === null ? null : { at: new Date(lastExit.at).toISOString(), exitCode: lastExit.exitCode, signal: lastExit.signal, reason: lastExit.reason },
  };
}

function serviceCounts(rows: readonly ServiceInstanceInfo[], count: number): Pick<StatusResult, 'services'> {
  if (count === 0) return {};
  const by = (state: string): number => rows.filter((row) => row.state === state).length;
  return { services: { count, instances: rows.length, running: by('running') + by('starting'), backoff: by('backoff'), failed: by('failed'), stopped: by('stopped') + by('stopping') } };
}
