/** What every supervisor of the services workload is given, and what the workload holds of it. */

export type ServicePeerName = 'schedd' | 'supervisord' | 'pm2';

/** One service as every supervisor gets it: a name and the argv to run (no shell in between). */
export interface ServiceSpec {
  label: string;
  argv: string[];
}

/** A supervisor holding the services; `roots` are its processes (see ownProcesses for the rest). */
export interface RunningSupervisor {
  name: ServicePeerName;
  version: string;
  roots: number[];
  stop(): Promise<void>;
  /** Synchronous last resort for a bench that is being interrupted: SIGKILL what `stop` would end. */
  kill(): void;
}

/** One word for a line that a shell (schedd's command) or shlex (supervisord's `command=`) splits. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
