import type { JobView } from '../job-view.js';

/**
 * What each control command takes and what it answers: the one map both ends are typed by.
 * The client's `call` returns the reply type of the command it sent; the daemon implements a
 * DaemonApi (api.ts) whose methods return the same types. Nothing here may come from daemon/:
 * the commands and the socket see only this file.
 */

export interface StatusResult {
  /** The pid in the pidfile, which `stop` signals (the watchdog's in detached mode). */
  pid: number;
  schedulerPid: number;
  startedAt: string;
  /** The main crontab's path (`-c`; '' when the daemon runs only the cron tables). */
  crontab: string;
  /**
   * Every job source (table) the daemon found: id '' is the main crontab, `crontab`,
   * `cron.d/NAME` and `user/NAME` the cron tables. `jobs`: its entries that run (services
   * included); `problem`: why it does not run as its file says (refused: none of it runs;
   * invalid: its last valid text runs).
   */
  sources: { id: string; path: string; jobs: number; problem?: { kind: 'refused' | 'waiting' | 'invalid'; messages: string[]; count: number } }[];
  /** `--cron`: the cron root the tables are read under. */
  cron?: string;
  stateDir: string;
  jobs: number;
  /** Services (not counted in jobs) and their instances by state. */
  services?: { count: number; instances: number; running: number; backoff: number; failed: number; stopped: number };
  running: { job: string; run: string; pid: number | null; startedAt: string }[];
  restarts: number;
  /** errors: the first 20 and a `... and N more errors` line; errorCount then the total. */
  lastReload: { at: string; ok: boolean; errors: string[]; errorCount?: number } | null;
  /** When the watchdog died and this scheduler carried on alone; null while supervised. */
  unsupervisedSince: string | null;
  /** Log records dropped since start (full buffer, write fault, nearly full disk). */
  logRecordsDropped: number;
}

/** `run`: what became of the requested run (its overlap policy decides). */
export interface FireResult {
  status: 'started' | 'skipped' | 'queued' | 'replacing';
  run?: string;
  reason?: string;
}

export interface ReloadResult {
  ok: boolean;
  errors: string[];
  /** The file had not changed since the last load. */
  fileUnchanged: boolean;
  added: string[];
  changed: string[];
  removed: string[];
  unchangedJobs: number;
  /** With fileUnchanged: the reload that last changed the schedule, if any did. */
  lastChange?: { at: string; reason: string; added: string[]; changed: string[]; removed: string[] };
}

export interface StopResult {
  stopping: true;
  /** The pid `stop` waits on (the pidfile's), and the scheduler's. */
  pid: number;
  schedulerPid: number;
}

export type ServiceState = 'starting' | 'running' | 'backoff' | 'stopping' | 'failed' | 'stopped';

/** One instance of a service, as `schedd services` shows it. */
export interface ServiceInstanceView {
  id: string;
  instance: number;
  instances: number;
  state: ServiceState;
  pid: number | null;
  startedAt: string | null;
  uptimeMs: number | null;
  /** Starts after the first since the daemon started (crashes, restarts asked for, edits). */
  restarts: number;
  /** backoff and failed: when it is tried again. */
  nextTryAt: string | null;
  lastExit: { at: string; exitCode: number | null; signal: string | null; reason: string } | null;
}

export const SERVICE_ACTIONS = ['start', 'stop', 'restart', 'reload', 'signal'] as const;
export type ServiceAction = (typeof SERVICE_ACTIONS)[number];

export interface ServiceRequest {
  action: ServiceAction;
  name: string;
  /** One instance (0..N-1) instead of every one. */
  instance?: number;
  /** With action 'signal': a signal name such as SIGUSR1 (or USR1). */
  signal?: string;
}

export interface ServiceResult {
  action: ServiceAction;
  name: string;
  /** The instances addressed, once the action is done. */
  instances: ServiceInstanceView[];
  /** reload and signal: how many processes got the signal. */
  signalled?: number;
}

/** Fields of a request besides `id` and `cmd`. */
type NoFields = Record<never, never>;

export interface CommandMap {
  status: { request: NoFields; reply: StatusResult };
  list: { request: NoFields; reply: JobView[] };
  run: { request: { job: string }; reply: FireResult };
  reload: { request: NoFields; reply: ReloadResult };
  'reopen-log': { request: NoFields; reply: { reopened: true } };
  stop: { request: NoFields; reply: StopResult };
  ping: { request: NoFields; reply: { pong: true } };
  services: { request: NoFields; reply: { services: ServiceInstanceView[] } };
  service: { request: ServiceRequest; reply: ServiceResult };
}

export type CommandName = keyof CommandMap;
export type CommandRequest<C extends CommandName> = CommandMap[C]['request'];
export type CommandReply<C extends CommandName> = CommandMap[C]['reply'];
