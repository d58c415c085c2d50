import { createHash } from 'node:crypto';
import type { BackoffPolicy, CrashWindow } from '../backoff.js';
import type { Entry, RestartPolicy, WatchAction } from '../crontab/types.js';

/** A service's options with every default applied: what the manager works from. */
export interface ServiceSpec {
  restart: RestartPolicy;
  backoff: BackoffPolicy;
  /** Up this long, and the next crash counts as the first in a row again. */
  stableMs: number;
  /** More starts than maxCrashes within windowMs (starts schedd did not ask for) and it is failed. */
  startLimit: CrashWindow;
  retryAfterMs: number;
  stopSignal: NodeJS.Signals;
  stopTimeoutMs: number;
  reloadSignal: NodeJS.Signals | null;
  /** Absolute paths (sources/ resolved them against the crontab's folder). */
  watch: string[];
  watchAction: WatchAction;
  instances: number;
  /** `timeout=`: a planned (graceful) restart after this long. */
  maxLifetimeMs: number | null;
}

export const SERVICE_DEFAULTS = {
  restartDelayMs: 1000,
  restartMaxDelayMs: 5 * 60_000,
  stableMs: 30_000,
  startLimit: { count: 10, windowMs: 10 * 60_000 },
  retryAfterMs: 15 * 60_000,
  stopSignal: 'SIGTERM' as NodeJS.Signals,
  stopTimeoutMs: 30_000,
  watchDebounceMs: 1000,
} as const;

/** True for an entry the service manager runs rather than the scheduler. */
export function isService(entry: Entry): boolean {
  return entry.options.service !== undefined;
}

export function serviceSpec(entry: Entry): ServiceSpec {
  const o = entry.options.service ?? {};
  const limit = o.startLimit ?? SERVICE_DEFAULTS.startLimit;
  return {
    restart: o.restart ?? 'always',
    backoff: { baseMs: o.restartDelayMs ?? SERVICE_DEFAULTS.restartDelayMs, factor: 2, maxMs: Math.max(o.restartMaxDelayMs ?? SERVICE_DEFAULTS.restartMaxDelayMs, 0) },
    stableMs: o.stableMs ?? SERVICE_DEFAULTS.stableMs,
    startLimit: { windowMs: limit.windowMs, maxCrashes: limit.count },
    retryAfterMs: o.retryAfterMs ?? SERVICE_DEFAULTS.retryAfterMs,
    stopSignal: o.stopSignal ?? SERVICE_DEFAULTS.stopSignal,
    stopTimeoutMs: o.stopTimeoutMs ?? SERVICE_DEFAULTS.stopTimeoutMs,
    reloadSignal: o.reloadSignal ?? null,
    watch: o.watch ?? [],
    watchAction: o.watchAction ?? 'restart',
    instances: o.instances ?? 1,
    maxLifetimeMs: entry.options.timeoutMs ?? null,
  };
}

/**
 * What a running instance was started from: its command, input, environment, user, working
 * directory and options. Two entries with the same key run the same process, so a reload
 * leaves its instances alone. `instances` is left out: a change of it starts or stops the
 * instances beyond the old or new count, and leaves the others running.
 */
export function definitionKey(entry: Entry): string {
  const { instances: _, ...service } = entry.options.service ?? {};
  const options = { ...entry.options, service };
  // The environment by name: the same variables written in another order are the same process's.
  const text = JSON.stringify([entry.command, entry.stdin, sorted(entry.env), entry.user ?? null, entry.zone ?? null, sorted(options)]);
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, sorted(v)]));
}

/** Words that start a compound command or are builtins: `exec WORD` would not mean the same. */
const NOT_EXECUTABLE = new Set([
  'if', 'then', 'else', 'elif', 'fi', 'case', 'esac', 'for', 'while', 'until', 'do', 'done', 'function', 'select', 'time', 'coproc',
  '{', '}', '!', '[[', ']]', 'exec', 'cd', 'export', 'set', 'unset', '.', 'source', 'eval', 'exit', 'trap', 'ulimit', 'umask',
  'read', 'wait', ':', 'true', 'false', 'shift', 'return', 'alias', 'readonly', 'local', 'builtin', 'command', 'break', 'continue', 'test', '[',
]);

/**
 * The command as the service's shell runs it: a simple command gets `exec ` in front, so the
 * shell becomes the program (dash forks it otherwise and waits), the service's pid is the
 * program's, a reload signal reaches it, its death by a signal is reported as such, and 100
 * services cost 100 processes, not 200. Anything else (lists, pipelines, compound commands,
 * a leading assignment, a builtin) runs as written.
 */
export function serviceCommand(command: string): string {
  const text = command.trim();
  if (text === '' || /[;&|()`\n]|\$\(/.test(text)) return command;
  const first = /^\S+/.exec(text)![0];
  if (NOT_EXECUTABLE.has(first) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(first) || first.startsWith('#')) return command;
  return `exec ${text}`;
}

/** True when the service's process is the program itself (`exec` in front), not a shell running a script of commands. */
export function execsProgram(command: string): boolean {
  return /^\s*exec\s/.test(serviceCommand(command));
}
