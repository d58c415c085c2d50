/** What the runner needs to start one process. It knows nothing of crontabs or schedules. */
export interface RunSpec {
  /** Passed to `shell -c`. */
  command: string;
  /** Absolute path of the shell; cron's default is /bin/sh. */
  shell: string;
  /** Text written to the child's standard input, then closed; null gives an empty stdin. */
  stdin: string | null;
  /** The complete environment of the child (nothing is inherited implicitly). */
  env: Record<string, string>;
  /** Working directory of the child. */
  cwd: string;
  /** Stop the run (SIGTERM to its process group, SIGKILL after killGraceMs) after this long. */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when a run is stopped. */
  killGraceMs: number;
  /** Run as this uid/gid (with these supplementary groups); omitted means the daemon's own. */
  uid?: number;
  gid?: number;
}

export type RunOutcome = 'ok' | 'failed' | 'timeout' | 'killed' | 'error';

export interface CapturedOutput {
  /** The first bytes of combined output, as text. */
  head: string;
  /** The last bytes of combined output (empty when everything fit in head). */
  tail: string;
  /** Total bytes the child wrote to stdout and stderr. */
  bytes: number;
  /** True when head + tail do not hold everything. */
  truncated: boolean;
}

export interface RunResult {
  outcome: RunOutcome;
  exitCode: number | null;
  signal: string | null;
  pid: number | null;
  startedAt: number;
  finishedAt: number;
  durationMs: number;
  output: CapturedOutput;
  /** Why the run could not start or was stopped (spawn error, timeout, stop request). */
  reason?: string;
}
