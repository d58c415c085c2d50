import type { Daemon } from './daemon.js';
import { errorReply, okReply, type Reply, type Request } from '../control/protocol.js';
import { jobView, lastRunView } from '../job-view.js';
import type { Log } from '../log.js';

export interface StatusResult {
  /** The pid in the pidfile, which `stop` signals (the watchdog's in detached mode). */
  pid: number;
  schedulerPid: number;
  startedAt: string;
  crontab: string;
  stateDir: string;
  jobs: number;
  running: { job: string; run: string; pid: number | null; startedAt: string }[];
  restarts: number;
  /** errors: the first 20 and a `... and N more errors` line; errorCount then the total. */
  lastReload: { at: string; ok: boolean; errors: string[]; errorCount?: number } | null;
  /** When the watchdog died and this scheduler carried on alone; null while supervised. */
  unsupervisedSince: string | null;
  /** Log records dropped since start (full buffer, write fault, nearly full disk). */
  logRecordsDropped: number;
}

export interface HandlerContext {
  crontabPath: string;
  stateDir: string;
  pidfilePid: number;
  restarts: number;
  unsupervisedSince?: string | null;
  log: Log;
  requestStop(): void;
}

/** The daemon's answers to control requests. */
export function controlHandler(daemon: Daemon, context: HandlerContext): (request: Request) => Promise<Reply> {
  return async (request) => {
    switch (request.cmd) {
      case 'ping':
        return okReply(request, { pong: true });
      case 'status': {
        const reload = daemon.lastReload;
        const status: StatusResult = {
          pid: context.pidfilePid,
          schedulerPid: process.pid,
          startedAt: new Date(daemon.startedAt).toISOString(),
          crontab: context.crontabPath,
          stateDir: context.stateDir,
          jobs: daemon.jobCount,
          running: daemon.running().map((r) => ({ job: r.job, run: r.run, pid: r.pid, startedAt: new Date(r.startedAt).toISOString() })),
          restarts: context.restarts,
          lastReload: reload === null ? null : { at: new Date(reload.at).toISOString(), ok: reload.ok, errors: reload.errors, ...(reload.errorCount === undefined ? {} : { errorCount: reload.errorCount }) },
          unsupervisedSince: context.unsupervisedSince ?? null,
          logRecordsDropped: context.log.dropped,
        };
        return okReply(request, status);
      }
      case 'list': {
        const now = Date.now();
        // The history knows runs from before this daemon started; memory covers a broken store.
        const recorded = await daemon.store.lastRuns();
        const jobs = daemon.jobStates().map(({ entry, zone, running, lastRun }) => {
          const { nextMs: _, ...view } = jobView(entry, now, zone);
          return { ...view, running, lastRun: lastRunView(recorded.get(entry.id)) ?? lastRunView(lastRun) };
        });
        jobs.sort((a, b) => a.line - b.line);
        return okReply(request, jobs);
      }
      case 'run': {
        const result = daemon.runJob(request.job!);
        if (result === null) return errorReply(request, 'SCHEDD_UNKNOWN_JOB', `no job '${request.job}' (see schedd list)`);
        return okReply(request, result);
      }
      case 'reload': {
        const outcome = await daemon.reload('schedd reload');
        const diff = outcome.diff ?? { added: [], changed: [], removed: [], unchanged: 0 };
        // Unchanged often means the watcher applied the save first: say what that reload did.
        const last = outcome.lastChange;
        const lastChange = last === undefined ? {} : { lastChange: { at: new Date(last.at).toISOString(), reason: last.reason, added: last.diff.added, changed: last.diff.changed, removed: last.diff.removed } };
        return okReply(request, { ok: outcome.ok, errors: outcome.errors, fileUnchanged: outcome.unchanged === true, added: diff.added, changed: diff.changed, removed: diff.removed, unchangedJobs: diff.unchanged, ...lastChange });
      }
      case 'reopen-log':
        context.log.reopen();
        context.log.info({ reason: 'schedd control' }, 'log reopened');
        return okReply(request, { reopened: true });
      case 'stop':
        context.requestStop();
        return okReply(request, { stopping: true, pid: context.pidfilePid, schedulerPid: process.pid });
    }
  };
}
