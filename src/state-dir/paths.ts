import { createHash } from 'node:crypto';
import { join } from 'node:path';

/**
 * The state directory's layout: every name schedd creates in it, in one place. The directory
 * check (check.ts) refuses a planted link or foreign file under any of these names, so a new
 * file in the state directory gets its name here, and nowhere else.
 */

export const STATE_FILES = {
  /** For tools that expect one; written by the process `stop` signals. */
  pidfile: 'schedd.pid',
  /** The control socket (mode 0600). */
  socket: 'schedd.sock',
  /** Users' crontab socket (mode 0666): a root daemon with --cron only (spool/server.ts). */
  crontabSocket: 'crontab.sock',
  /** The detached daemon's log; rotated to `schedd.log.1`. */
  log: 'schedd.log',
  /** The run history (SQLite, with its -wal, -shm and -journal companions). */
  history: 'history.db',
  /** The secret that names the instance locks (abstract sockets, so no lock file of their own). */
  lockSecret: 'schedd.lock',
  /** The boot that @reboot jobs last ran for. */
  bootId: 'reboot-boot-id',
} as const;

/**
 * A service instance's files, `service.<hash of its id>.<instance>.<kind>`: `out` and `err`
 * take its standard output and error (opened O_APPEND, so they outlive the scheduler that
 * reads them), `state` holds its pid and start time, for the next scheduler to adopt it.
 */
export type ServiceFileKind = 'out' | 'err' | 'state';
const SERVICE_FILE = /^service\.[0-9a-f]{16}\.[0-9]{1,3}\.(out|err|state)$/;

/** SQLite's companions of the history file. */
const HISTORY_SUFFIXES = ['', '-wal', '-shm', '-journal'];

export type StateFileKind = 'file' | 'socket' | 'rotated-log';

/** The kind an entry of the state directory must be, or null for a name schedd does not make. */
export function stateEntryKind(name: string): StateFileKind | null {
  if (name === STATE_FILES.socket || name === STATE_FILES.crontabSocket) return 'socket';
  if (name.startsWith(`${STATE_FILES.log}.`) && name.length > STATE_FILES.log.length + 1) return 'rotated-log';
  if (SERVICE_FILE.test(name)) return 'file';
  if (name === STATE_FILES.pidfile || name === STATE_FILES.log || name === STATE_FILES.bootId || name === STATE_FILES.lockSecret) return 'file';
  // writeStateFile's temporary files, renamed over their target.
  if (name.endsWith('.tmp')) return 'file';
  if (HISTORY_SUFFIXES.some((suffix) => name === `${STATE_FILES.history}${suffix}`)) return 'file';
  return null;
}

export function pidfilePath(stateDir: string): string {
  return join(stateDir, STATE_FILES.pidfile);
}

export function socketPath(stateDir: string): string {
  return join(stateDir, STATE_FILES.socket);
}

export function crontabSocketPath(stateDir: string): string {
  return join(stateDir, STATE_FILES.crontabSocket);
}

export function logPath(stateDir: string): string {
  return join(stateDir, STATE_FILES.log);
}

export function historyPath(stateDir: string): string {
  return join(stateDir, STATE_FILES.history);
}

export function lockSecretPath(stateDir: string): string {
  return join(stateDir, STATE_FILES.lockSecret);
}

export function bootIdPath(stateDir: string): string {
  return join(stateDir, STATE_FILES.bootId);
}

/** The id of a service as it appears in its files' names. */
export function serviceFileId(job: string): string {
  return createHash('sha256').update(job).digest('hex').slice(0, 16);
}

export function serviceFilePath(stateDir: string, job: string, instance: number, kind: ServiceFileKind): string {
  return join(stateDir, `service.${serviceFileId(job)}.${instance}.${kind}`);
}

/** The names of every service state file in the directory (the instances a scheduler started). */
export function isServiceStateFile(name: string): boolean {
  return SERVICE_FILE.test(name) && name.endsWith('.state');
}
