import childProcess, { type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/**
 * Loaded with `--import` into a supervisor's own Node process (schedd, pm2's God daemon) by
 * restart-trace.ts: it notes when each child's 'exit' event is emitted, when each spawn() call
 * begins and returns, and when each 0 ms timer is set and fires, and writes them to
 * $SCHEDD_TRACE_DIR/trace.<pid>.json as the process exits. The times are epoch milliseconds
 * with microseconds (timeOrigin + the monotonic clock), comparable with the recorder's.
 *
 * SCHEDD_TRACE_WHATIF lists changes to try on schedd without editing it, for measuring only:
 * `no-raise` makes raising the scheduler's priority fail (so services start without the gate
 * that holds each one until its nice value is set back), `no-timer` runs the 0 ms timer of
 * services/instance.ts as a microtask (a restart-delay=0 restart without a turn of the loop).
 */

export type TraceEvent = { kind: 'spawn'; pid: number; at: number; end: number; argv: string[] } | { kind: 'exit'; pid: number; at: number } | { kind: 'timer0'; at: number; end: number };

const dir = process.env.SCHEDD_TRACE_DIR;
const whatIf = new Set((process.env.SCHEDD_TRACE_WHATIF ?? '').split('+').filter((w) => w !== ''));
const events: TraceEvent[] = [];
const now = (): number => performance.timeOrigin + performance.now();

// Monkey-patching: the originals are called with the arguments as given, whatever the overload.
type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

const originalSpawn = childProcess.spawn as unknown as AnyFunction;
childProcess.spawn = function (this: unknown, ...args: unknown[]): ChildProcess {
  const at = now();
  const child = originalSpawn.apply(this, args) as ChildProcess;
  const end = now();
  if (child.pid !== undefined) {
    const pid = child.pid;
    events.push({ kind: 'spawn', pid, at, end, argv: child.spawnargs });
    child.prependListener('exit', () => events.push({ kind: 'exit', pid, at: now() }));
  }
  return child;
} as typeof childProcess.spawn;

if (whatIf.has('no-raise')) {
  const originalSetPriority = os.setPriority as unknown as AnyFunction;
  os.setPriority = function (this: unknown, ...args: unknown[]): void {
    // setPriority(nice) is the process raising itself; setPriority(pid, nice) sets a child back.
    if (args.length === 1) throw Object.assign(new Error('EACCES (what-if no-raise)'), { info: { code: 'EACCES' } });
    originalSetPriority.apply(this, args);
  } as typeof os.setPriority;
}
syncBuiltinESMExports();

const originalSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = function (this: unknown, callback: (...args: unknown[]) => void, delayMs?: number, ...args: unknown[]): NodeJS.Timeout {
  if (delayMs !== 0 || typeof callback !== 'function') return originalSetTimeout(callback, delayMs, ...args);
  const at = now();
  const fire = (): void => {
    events.push({ kind: 'timer0', at, end: now() });
    callback(...args);
  };
  if (whatIf.has('no-timer') && (new Error().stack ?? '').includes('/services/instance.js')) {
    // The caller may clear or unref what it gets: a real timer, cleared at once. Its own
    // callback checks the instance's state, so running it once more than asked does no harm.
    queueMicrotask(fire);
    const dummy = originalSetTimeout(() => undefined, 0);
    clearTimeout(dummy);
    return dummy;
  }
  return originalSetTimeout(fire, 0);
} as typeof setTimeout;

process.on('exit', () => {
  if (dir !== undefined) writeFileSync(join(dir, `trace.${process.pid}.json`), JSON.stringify(events));
});
