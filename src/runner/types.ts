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
  /**
   * `cwd` is the user's HOME, not a `cwd=` the crontab asked for: as under cron, which ignores
   * a failed chdir to HOME, a home that does not exist (`nobody`'s `/nonexistent`) or cannot be
   * entered is no error, and the job runs in `/`.
   */
  cwdIsHome?: boolean;
  /** Stop the run (SIGTERM to its process group, SIGKILL after killGraceMs) after this long. */
  timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when a run is stopped. */
  killGraceMs: number;
  /** The signal a stop sends first [SIGTERM]. */
  stopSignal?: NodeJS.Signals;
  /**
   * Descriptors the process writes its standard output and error to itself (a service's files,
   * which outlive the scheduler) instead of pipes read here: nothing is captured then.
   */
  output?: { stdout: number; stderr: number };
  /**
   * Start the process now but hold it at a gate until release(): the expensive part of
   * starting (fork and exec of a shell) happens ahead of the slot, the job itself at the slot.
   */
  gated?: boolean;
  /**
   * Run as another user (the daemon must be root): with `setpriv` on the machine the job also
   * gets the user's supplementary groups, as under cron. Without it only uid and gid can be
   * set, so the run is refused (outcome 'error') unless `groups` shows the user has no
   * supplementary groups: losing them silently changes what the job may read and write.
   */
  account?: { name: string; uid: number; gid: number; groups?: readonly number[] | null };
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
  /**
   * Processes of the run's group still alive when it finished (started in the background and
   * not waited for); absent when none. The group is `pid`; the caller decides their fate.
   */
  leftBehind?: number;
}

export type OutputStream = 'stdout' | 'stderr';

/** Reported once, when the run ends, if any output did not reach onLine. */
export interface TruncationInfo {
  /** Bytes the child wrote to stdout and stderr. */
  totalBytes: number;
  /** Bytes passed to onLine (line content kept plus its newline). */
  emittedBytes: number;
  /** totalBytes - emittedBytes: cut from long lines, or after the per-run cap. */
  droppedBytes: number;
  /** Lines longer than maxLineBytes that were cut. */
  linesCut: number;
  /** True when maxEmittedBytes was reached and later lines were not emitted. */
  capReached: boolean;
}

export interface RunHooks {
  /** One line of output, without its newline. Must not throw. */
  onLine?(stream: OutputStream, line: string): void;
  onTruncated?(info: TruncationInfo): void;
}

/** Bounds on what the runner keeps or passes on; memory stays bounded whatever the child prints. */
export interface RunOptions {
  /** A longer line is cut to this many bytes and the rest of it dropped. */
  maxLineBytes: number;
  /** After this many bytes have been passed to onLine, no more lines are emitted. */
  maxEmittedBytes: number;
  /** Size of RunResult.output.head and .tail. */
  headBytes: number;
  tailBytes: number;
  /** How long pipes are still read after the shell exits (grandchildren may hold them open). */
  drainGraceMs: number;
}

export interface RunHandle {
  /** Pid of the shell, which is also the process group id; null when spawning failed. */
  readonly pid: number | null;
  /** When the job started (for a gated run: when it was released). */
  readonly startedAt: number;
  /** Gated runs: let the job run now. No-op for other runs and after the first call. */
  release(): void;
  /** Gated runs: end the process before the job ever runs; `done` then says outcome 'error'. */
  abort(): void;
  /** Resolves when the run is over; never rejects. */
  readonly done: Promise<RunResult>;
  /** SIGTERM to the process group, SIGKILL after spec.killGraceMs. No-op once the run is over. */
  stop(reason: string): void;
}
