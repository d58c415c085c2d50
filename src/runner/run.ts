/*
 * How this works.
 *
 * startRun spawns `shell -c command` detached, so the shell leads a new session and process
 * group (pgid = pid), and returns at once. `done` resolves with a RunResult and never rejects:
 * a job that cannot start is an outcome ('error'), not an exception.
 *
 * States: running -> [stopping] -> exited -> draining -> finished (or straight to finished
 * with 'error' when spawning fails).
 * - running: the shell is alive. The timeout timer (owned here) moves the run to stopping with
 *   outcome 'timeout'; stop() does the same with 'killed'. That timer is unref'd: while the
 *   shell lives its child handle keeps the event loop alive anyway, and it is cleared on exit.
 * - stopping: terminateGroup (process-group.ts) owns SIGTERM -> poll -> SIGKILL. It is not tied
 *   to the shell, so group members that ignore SIGTERM or outlive the shell are killed too.
 * - exited: the shell's 'exit' event, not its pipes closing, ends the job: a grandchild may hold
 *   stdout open for hours. The drain timer (owned here) keeps reading for drainGraceMs, then
 *   destroys the pipes; a grandchild writing after that gets EPIPE, as under cron.
 * - finished: the shell has exited, both pipes are closed and any termination is complete.
 *   Every timer is cleared by then, so a finished run holds no handle open. Members of the
 *   group still alive then (`cmd &` never waited for) are counted in RunResult.leftBehind;
 *   the dispatcher keeps them tracked until the job's timeout or schedd's stop kills them.
 *
 * Clock jumps: Node timers and durationMs are monotonic, so a wall-clock jump neither fires nor
 * delays a timeout; finishedAt is startedAt + durationMs so the pair stays consistent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import { formatDuration } from '../crontab/duration.js';
import { jobNice } from './priority.js';
import { liveMembers, terminateGroup } from './process-group.js';
import { RunOutput } from './run-output.js';
import type { OutputStream, RunHandle, RunHooks, RunOptions, RunOutcome, RunResult, RunSpec } from './types.js';

export const DEFAULT_RUN_OPTIONS: Readonly<RunOptions> = Object.freeze({
  maxLineBytes: 64 * 1024,
  maxEmittedBytes: 1024 * 1024,
  headBytes: 32 * 1024,
  tailBytes: 32 * 1024,
  drainGraceMs: 200,
});

// setTimeout fires after 1 ms for larger delays; a longer timeout (24.8 days) means none.
const MAX_TIMER_MS = 2 ** 31 - 1;
const STREAMS: readonly OutputStream[] = ['stdout', 'stderr'];

/**
 * The gate: a POSIX shell that waits for one line on file descriptor 3, closes it, then execs
 * the job's own shell on the command. End of input before the line means the run was aborted:
 * exit without running anything.
 */
const GATE_SCRIPT = 'read -r _ <&3 || exit 111; exec 3<&-; exec "$0" -c "$1"';
const GATE_SHELL = '/bin/sh';
const GATE_FD = 3;

/** Enters the job's working directory as the job's user, then execs the job (or its gate). */
const CD_SCRIPT = 'cd -- "$1" || exit 126; shift; exec "$@"';
/** For a cwd that is only the user's HOME: cron runs the job in / when HOME cannot be entered. */
const CD_HOME_SCRIPT = 'cd -- "$1" 2>/dev/null || cd /; shift; exec "$@"';
const CD_SHELL = '/bin/sh';

/** The gate's program and arguments for a job's shell and command. */
function gateArgs(shell: string, command: string): [string, string[]] {
  // When the job's shell is the gate's own, the command follows the gate in the same script:
  // one exec less at the slot. sh runs a -c script one command at a time, so the command is
  // parsed (and a syntax error reported) only after the gate opens, exactly as with sh -c.
  if (shell === GATE_SHELL) return [GATE_SHELL, ['-c', `read -r _ <&3 || exit 111; exec 3<&-\n${command}`]];
  return [GATE_SHELL, ['-c', GATE_SCRIPT, shell, command]];
}

export function startRun(spec: RunSpec, hooks: RunHooks = {}, options: Partial<RunOptions> = {}): RunHandle {
  return new Supervisor(spec, hooks, { ...DEFAULT_RUN_OPTIONS, ...options }).handle;
}

type StopKind = 'timeout' | 'killed';

class Supervisor {
  readonly handle: RunHandle;
  private startedAt = Date.now();
  // Monotonic: durationMs must not jump with the wall clock.
  private startedAtMs = performance.now();
  /** Gated runs only: true until release() or abort(). */
  private held: boolean;
  private readonly output: RunOutput;
  private readonly child: ChildProcess | null = null;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private stop: { kind: StopKind; reason: string } | null = null;
  private termination: 'pending' | 'exited' | 'killed' | null = null;
  private openStreams = 0;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private finished = false;
  private aborted = false;
  /** Why the held process was aborted by the runner itself (its priority could not be set). */
  private abortReason: string | null = null;
  private resolveDone!: (result: RunResult) => void;

  constructor(
    private readonly spec: RunSpec,
    private readonly hooks: RunHooks,
    private readonly options: RunOptions,
  ) {
    this.output = new RunOutput(options, hooks.onLine);
    const done = new Promise<RunResult>((resolve) => {
      this.resolveDone = resolve;
    });
    // A scheduler running at a raised priority starts every job held at its gate, even one not
    // prepared ahead: its nice value is set back before the gate opens (see priority.ts).
    const nice = jobNice();
    // A missing job shell must still be reported as such, not as the gate's exec failing. The
    // gate's own shell needs no look: it is the job's, and its spawn error says so already.
    this.held = (spec.gated === true || nice !== null) && (spec.shell === GATE_SHELL || isExecutable(spec.shell));
    const releaseAtOnce = this.held && spec.gated !== true;
    let [file, args] = this.held ? gateArgs(spec.shell, spec.command) : [spec.shell, ['-c', spec.command]];
    const account = spec.account;
    const viaSetpriv = account !== undefined && SETPRIV !== null;
    const refusal = account === undefined ? null : refuseAccount(account, spec.cwdIsHome === true ? null : spec.cwd, viaSetpriv);
    if (refusal !== null) {
      this.finish({ outcome: 'error', exitCode: null, signal: null, reason: refusal });
    } else {
      // As root (no account), HOME is entered by spawn: one that is not a directory means `/`.
      let cwd = spec.cwdIsHome === true && account === undefined && pathKind(spec.cwd) !== 'directory' ? '/' : spec.cwd;
      if (account !== undefined) {
        // The working directory is entered as the user, not as root: spawn's chdir comes before
        // setuid (and setpriv is exec'd only after it), so a cwd behind a directory the user may
        // not search (a link into root's 0700 folder) would hand them a way in.
        args = ['-c', spec.cwdIsHome === true ? CD_HOME_SCRIPT : CD_SCRIPT, 'schedd-cd', cwd, file, ...args];
        file = CD_SHELL;
        cwd = '/';
      }
      if (viaSetpriv) {
        args = [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--', file, ...args];
        file = SETPRIV!;
      }
      try {
        this.child = spawn(file, args, {
          cwd,
          env: spec.env,
          detached: true,
          // No input means /dev/null, as under cron, not a socket: Debian's bash reads ~/.bashrc
          // when its stdin is a socket, which Node's 'pipe' is.
          stdio: [spec.stdin === null ? 'ignore' : 'pipe', spec.output?.stdout ?? 'pipe', spec.output?.stderr ?? 'pipe', ...(this.held ? (['pipe'] as const) : [])],
          ...(account !== undefined && !viaSetpriv ? { uid: account.uid, gid: account.gid } : {}),
        });
        this.supervise(this.child);
        if (nice !== null) this.resetPriority(this.child, nice);
        if (releaseAtOnce) this.release();
      } catch (err) {
        // Invalid options (e.g. a non-integer uid) throw synchronously instead of emitting 'error'.
        this.failToStart(err);
      }
    }
    const self = this;
    this.handle = {
      pid: this.child?.pid ?? null,
      get startedAt() {
        return self.startedAt;
      },
      done,
      stop: (reason: string) => this.terminate('killed', reason),
      release: () => this.release(),
      abort: () => this.abortHeld(),
    };
  }

  /**
   * Sets the held process to the nice value jobs start at. Should that fail (it cannot, for
   * the root that raised it), the gate is never opened: the run ends as not started.
   */
  private resetPriority(child: ChildProcess, nice: number): void {
    if (child.pid === undefined) return; // spawn failed: nothing runs
    try {
      setPriority(child.pid, nice);
    } catch (err) {
      this.abortReason = `cannot start: cannot set the job's priority (nice ${nice}): ${(err as Error).message}`;
      this.abortHeld();
    }
  }

  private release(): void {
    if (!this.held || this.finished) return;
    this.held = false;
    this.startedAt = Date.now();
    this.startedAtMs = performance.now();
    this.gate()?.end('\n');
    this.startTimeout();
  }

  private abortHeld(): void {
    if (!this.held || this.finished) return;
    this.held = false;
    this.aborted = true;
    this.gate()?.end();
  }

  private gate(): NodeJS.WritableStream | null {
    // No stdio at all when spawn failed to make the pipes (EMFILE).
    return (this.child?.stdio?.[GATE_FD] as NodeJS.WritableStream | null | undefined) ?? null;
  }

  private startTimeout(): void {
    const { timeoutMs } = this.spec;
    if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
      this.timeoutTimer = setTimeout(() => this.terminate('timeout', `timed out after ${formatDuration(timeoutMs)}`), timeoutMs);
      this.timeoutTimer.unref();
    }
  }

  private supervise(child: ChildProcess): void {
    // After a successful spawn 'error' only reports failed kill()/send() calls, which we never make.
    child.once('error', (err) => {
      if (child.pid === undefined) this.failToStart(err);
    });
    child.once('exit', (code, signal) => this.onExit(code, signal));
    for (const stream of STREAMS) {
      const pipe = child[stream];
      if (!pipe) continue;
      this.openStreams++;
      pipe.on('data', (chunk: Buffer) => {
        if (!this.finished) this.output.write(stream, chunk);
      });
      // A read error ends the stream like EOF; 'close' follows either way.
      pipe.on('error', () => {});
      pipe.once('close', () => {
        this.openStreams--;
        if (!this.finished) this.output.end(stream);
        this.maybeFinish();
      });
    }
    // EPIPE when the child exits without reading its stdin is not a failure of the job.
    child.stdin?.on('error', () => {});
    if (this.spec.stdin !== null) child.stdin?.end(this.spec.stdin);
    if (this.held) {
      this.gate()?.on('error', () => {});
      return; // the timeout starts at release()
    }
    this.startTimeout();
  }

  private terminate(kind: StopKind, reason: string): void {
    const pid = this.child?.pid;
    if (this.finished || this.termination !== null || pid === undefined) return;
    clearTimeout(this.timeoutTimer);
    // Once the shell has exited its status stands; stopping then only clears out the group.
    if (this.exit === null) this.stop = { kind, reason };
    this.termination = 'pending';
    void terminateGroup(pid, this.spec.killGraceMs, 20, this.spec.stopSignal).done.then((how) => {
      this.termination = how;
      this.maybeFinish();
    });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.finished) return;
    this.exit = { code, signal };
    clearTimeout(this.timeoutTimer);
    if (this.openStreams > 0) {
      this.drainTimer = setTimeout(() => {
        this.child?.stdout?.destroy();
        this.child?.stderr?.destroy();
      }, this.options.drainGraceMs);
    }
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.finished || this.exit === null || this.openStreams > 0 || this.termination === 'pending') return;
    const { outcome, reason } = this.judge(this.exit.code, this.exit.signal);
    const truncation = this.output.truncation();
    // A group already terminated (timeout, stop) has been dealt with; otherwise whatever the
    // shell left running in the background is counted for the caller (one kill(2) when none).
    const pid = this.child?.pid;
    const leftBehind = this.termination === null && pid !== undefined ? liveMembers(pid) : 0;
    this.finish({ outcome, exitCode: this.exit.code, signal: this.exit.signal, reason, ...(leftBehind > 0 ? { leftBehind } : {}) });
    if (truncation) this.hooks.onTruncated?.(truncation);
  }

  private judge(code: number | null, signal: string | null): { outcome: RunOutcome; reason?: string } {
    if (this.aborted) return { outcome: 'error', reason: this.abortReason ?? 'aborted before the job started' };
    if (this.stop) {
      const escalated = this.termination === 'killed' ? `; SIGKILL after ${formatDuration(this.spec.killGraceMs)} grace` : '';
      return { outcome: this.stop.kind, reason: this.stop.reason + escalated };
    }
    if (signal !== null) return { outcome: 'killed', reason: `killed by ${signal}` };
    return { outcome: code === 0 ? 'ok' : 'failed' };
  }

  private failToStart(err: unknown): void {
    if (this.finished) return;
    this.child?.stdout?.destroy();
    this.child?.stderr?.destroy();
    this.finish({ outcome: 'error', exitCode: null, signal: null, reason: describeSpawnError(this.spec, err) });
  }

  private finish(verdict: Pick<RunResult, 'outcome' | 'exitCode' | 'signal' | 'reason' | 'leftBehind'>): void {
    this.finished = true;
    clearTimeout(this.timeoutTimer);
    clearTimeout(this.drainTimer);
    this.child?.stdin?.destroy();
    (this.gate() as { destroy?(): void } | null)?.destroy?.();
    const durationMs = Math.round(performance.now() - this.startedAtMs);
    const result: RunResult = {
      ...verdict,
      pid: this.child?.pid ?? null,
      startedAt: this.startedAt,
      finishedAt: this.startedAt + durationMs,
      durationMs,
      output: this.output.captured(),
    };
    if (result.reason === undefined) delete result.reason;
    this.resolveDone(result);
  }
}

/** Node reports a missing cwd as `spawn /bin/sh ENOENT`; say which path is actually wrong. */
function describeSpawnError(spec: RunSpec, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    const cwd = cwdProblem(spec.cwd);
    if (cwd !== null) return cwd;
    if (pathKind(spec.shell) === 'missing') return `cannot start: shell ${spec.shell} does not exist`;
  }
  return `cannot start: ${err instanceof Error ? err.message : String(err)}`;
}

/** util-linux's setpriv, which sets uid, gid and the user's supplementary groups before exec. */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => isExecutable(path)) ?? null;

/** Whether jobs for other users get their supplementary groups (see RunSpec.account). */
export function hasSetpriv(): boolean {
  return SETPRIV !== null;
}

/**
 * Why a job for another user cannot start, or null: without setpriv it would lose its
 * supplementary groups; a cwd that is missing is said as such (it is entered only later, in
 * the user's own shell, where the failure would read as the job's).
 */
function refuseAccount(account: NonNullable<RunSpec['account']>, cwd: string | null, viaSetpriv: boolean): string | null {
  if (!viaSetpriv && !onlyPrimaryGroup(account)) return `cannot run as ${account.name} with their supplementary groups: setpriv (util-linux) is not installed`;
  return cwd === null ? null : cwdProblem(cwd);
}

/** Why a run cannot start in `cwd`, or null when it is a directory. */
function cwdProblem(cwd: string): string | null {
  const kind = pathKind(cwd);
  if (kind === 'directory') return null;
  return `cannot start: cwd ${cwd} ${kind === 'missing' ? 'does not exist' : 'is not a directory'}`;
}

/**
 * True when the user has no supplementary groups: then spawn's uid and gid are exact (libuv
 * clears the supplementary groups with setgroups(0) before setgid and setuid), and nothing is
 * lost. Unknown groups (null or absent) count as some.
 */
function onlyPrimaryGroup(account: NonNullable<RunSpec['account']>): boolean {
  return account.groups != null && account.groups.every((gid) => gid === account.gid);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pathKind(path: string): 'missing' | 'directory' | 'file' {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'file';
  } catch {
    return 'missing';
  }
}
