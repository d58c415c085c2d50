import type { Daemon } from './daemon.js';
import type { DaemonApi } from '../control/api.js';
import type { StatusResult } from '../control/commands.js';
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
        // The main crontab (the first source) keeps its own field, as before sources.
        crontab: daemon.sources[0]!.path,
        sources: daemon.sources.map(({ id, path }) => ({ id, path })),
        stateDir: context.stateDir,
        jobs: daemon.jobCount,
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
      jobs.sort((a, b) => a.line - b.line);
      return jobs;
    },
    async run({ job }) {
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
    async stop() {
      context.requestStop();
      return { stopping: true, pid: context.pidfilePid, schedulerPid: process.pid };
    },
  };
}
