// The services scenario's checks of when processes start again: a crash's restart delay, and
// the order of a rolling restart. Both read the ledger for when processes started and died,
// and the log only for what schedd decided (the delay it announced, the stops it began).
import type { LogLine } from '../helpers/detached.js';
import { CLOCK_SLACK_MS, runName, type Facts } from './services-facts.js';
import { SERVICES, type ServiceConfig } from './services-ledger.js';

/** Breaches of the spec that are known product bugs, apart from the other problems. */
export interface KnownBugs {
  /** A process up longer than stable= and ended by a restart schedd asked for leaves the row of crashes counting. */
  crashRowNotEndedByStableRun: string[];
  /** A rolling restart that a later edit takes over stops a second instance while the first is down. */
  rolloutTwoDown: string[];
}

/** A restart may come this much later than its delay (exit seen, group ended, spawn, shell up). */
const RESTART_BOUND_MS = 1500;
/** ... and an adopted process's end is seen by polling, once a second. */
const ADOPTED_BOUND_MS = 2500;
/** A rolling restart goes on once the new process is up 1 s (or stable=, if shorter). */
const UP_BEFORE_NEXT_MS = 1000;
/** Between schedd's spawn and the shell's start line. */
const SHELL_START_MS = 250;

export function parseDurationMs(text: string): number {
  let ms = 0;
  const units: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|d|h|m|s)/g)) ms += Number(n) * units[unit!]!;
  return ms;
}

/** The delay after the `failures`-th crash in a row, as the options say. */
function delayMs(service: ServiceConfig, failures: number): number {
  return Math.min(service.baseMs * 2 ** (Math.max(1, failures) - 1), service.maxMs);
}

/** Crashes in a row, as a set: where an uptime is too near stable= to tell, both readings. */
function afterCrash(failures: ReadonlySet<number>, upLo: number, upHi: number, stableMs: number): Set<number> {
  const next = new Set<number>();
  for (const f of failures) {
    if (upLo > stableMs) next.add(1);
    else if (upHi <= stableMs) next.add(Math.min(f + 1, 30));
    else next.add(1).add(Math.min(f + 1, 30));
  }
  return next;
}

const delaysOf = (service: ServiceConfig, failures: ReadonlySet<number>): number[] => [...new Set([...failures].map((f) => delayMs(service, f)))].sort((a, b) => a - b);
const giving = (service: ServiceConfig, failures: ReadonlySet<number>, ms: number): Set<number> => new Set([...failures].filter((f) => delayMs(service, f) === ms));

/**
 * A crash's restart, per instance in order: the delay schedd announces ('restart in ...') is the
 * options' for that many crashes in a row (restart-delay doubling up to restart-max-delay; a
 * run up longer than stable= ends the row, however it ended; after a new scheduler or a
 * `service stop` and `start` the spec does not say, so either holds), and the next process
 * starts no sooner than that after the kill and within a bound beyond it, unless its scheduler
 * died first (then the next one starts it) or `schedd service stop` came in between.
 */
export function checkRestartDelays(f: Facts) {
  const problems: string[] = [];
  const knownBugs: Pick<KnownBugs, 'crashRowNotEndedByStableRun'> = { crashRowNotEndedByStableRun: [] };
  const figures = { crashRestarts: 0, doubledDelays: 0, longestDelayMs: 0, maxRestartLatencyMs: 0, maxAdoptedRestartLatencyMs: 0, restartedByNextScheduler: 0, stoppedInBackoff: 0, killsWhileStopping: 0, crashesAfterStablePlannedEnd: 0 };
  for (const [job, service] of Object.entries(SERVICES) as [string, ServiceConfig][]) {
    for (let instance = 0; instance < service.instances; instance++) {
      const own = f.startsOf(job, instance);
      // As the spec reads, and as if only a crashing run's own uptime could end a row.
      let spec = new Set([0]);
      let ownUptimeOnly = new Set([0]);
      let lastLife: number | null = null;
      for (const [k, run] of own.entries()) {
        const record = f.exitRecord.get(run.run);
        const life = record === undefined ? null : f.lifeOf(record);
        const end = f.endOf(run);
        const next = own[k + 1];
        if (life !== null && lastLife !== null && life !== lastLife) {
          spec.add(0);
          ownUptimeOnly.add(0);
        }
        if (life !== null) lastLife = life;
        const crashed = record !== undefined && /^crashed/.test(record.reason ?? '');
        const kill = f.killByRun.get(run.run);
        if (kill !== undefined && record !== undefined && !crashed) figures.killsWhileStopping++;
        const stopped = end === null ? undefined : f.stops.find((w) => w.job === job && w.stopAt > end && (next === undefined || w.stopAt < next.startAt!));
        if (!crashed || end === null) {
          if (end !== null) {
            const up = end - run.startAt!;
            if (up > service.stableMs + 500) spec = new Set([0]);
            else if (up > service.stableMs - 100) spec.add(0);
          }
        } else {
          if (kill === undefined) problems.push(`${runName(run)} crashed without a kill by the test: ${record.reason}`);
          const row = f.historyById.get(run.run);
          const spawnedAt = Math.min(run.startAt!, row?.startedAt == null ? Infinity : Date.parse(row.startedAt));
          const adopted = f.adopted.has(run.run);
          const upLo = end - run.startAt!;
          const upHi = end - spawnedAt + (adopted ? 1500 : 300);
          spec = afterCrash(spec, upLo, upHi, service.stableMs);
          ownUptimeOnly = afterCrash(ownUptimeOnly, upLo, upHi, service.stableMs);
          const expected = delaysOf(service, spec);
          const byOwnUptime = delaysOf(service, ownUptimeOnly);
          // The crashes where the two readings part: what crashRowNotEndedByStableRun is about.
          if (!expected.some((ms) => byOwnUptime.includes(ms))) figures.crashesAfterStablePlannedEnd++;
          const said = /; restart in (\S+)$/.exec(record.reason ?? '');
          const claimed = said === null ? null : parseDurationMs(said[1]!);
          const what = `${runName(run)}: restart delay ${claimed} ms ('${record.reason}'), expected ${expected.join(' or ')} ms (up ${upLo}-${upHi} ms, stable ${service.stableMs} ms)`;
          if (claimed === null || (!expected.includes(claimed) && !byOwnUptime.includes(claimed))) problems.push(what);
          else if (!expected.includes(claimed)) knownBugs.crashRowNotEndedByStableRun.push(`${what}: an earlier run of the instance was up longer than stable=, and ended by a restart schedd asked for`);
          // Go on from what schedd counted: one breach is reported once.
          if (claimed !== null) {
            const held = giving(service, ownUptimeOnly, claimed);
            if (held.size > 0) ownUptimeOnly = held;
            spec = giving(service, spec, claimed).size > 0 ? giving(service, spec, claimed) : new Set(ownUptimeOnly);
          }
          const announced = claimed ?? expected[0]!;
          const bound = Math.max(...expected, announced) + (adopted ? ADOPTED_BOUND_MS : RESTART_BOUND_MS);
          const scheduler = life === null ? undefined : f.lives[life];
          if (scheduler === undefined) {
            problems.push(`${runName(run)}: its exit was logged at ${record.time}, when no scheduler the test knows of lived`);
          } else if (stopped !== undefined) {
            // Stopped during its backoff: checkAskedStops holds it stopped until the start.
            figures.stoppedInBackoff++;
          } else if (next !== undefined && next.ppid === scheduler.pid) {
            const gap = next.startAt! - end;
            figures.crashRestarts++;
            if (announced > service.baseMs) figures.doubledDelays++;
            figures.longestDelayMs = Math.max(figures.longestDelayMs, announced);
            if (gap < announced - CLOCK_SLACK_MS) problems.push(`${runName(run)} was restarted ${gap} ms after its kill, sooner than its delay of ${announced} ms`);
            if (gap > bound) problems.push(`${runName(run)} was restarted ${gap} ms after its kill, its delay ${announced} ms`);
            const latency = gap - announced;
            if (adopted) figures.maxAdoptedRestartLatencyMs = Math.max(figures.maxAdoptedRestartLatencyMs, latency);
            else figures.maxRestartLatencyMs = Math.max(figures.maxRestartLatencyMs, latency);
          } else if (scheduler.diedAt - end > bound || (next === undefined && life === f.lives.length - 1 && f.finalStopAt - end > bound)) {
            problems.push(`${runName(run)} crashed and its scheduler (pid ${scheduler.pid}) did not restart it within ${bound} ms, though it lived ${Math.min(scheduler.diedAt, f.finalStopAt) - end} ms more`);
          } else if (next !== undefined) figures.restartedByNextScheduler++;
        }
        if (stopped !== undefined) {
          spec.add(0);
          ownUptimeOnly.add(0);
        }
      }
    }
  }
  return { problems, knownBugs, figures };
}

interface RolloutStop {
  instance: number;
  at: number;
  /** Index of the record in the log. */
  index: number;
  life: number | null;
}

const changesWeb = (r: LogLine): boolean => r.msg === 'crontab reloaded' && Array.isArray(r.changed) && r.changed.includes('web');

/**
 * Rolling restarts of web, from the stops schedd logged for them ('service stopping',
 * 'restarted for a crontab edit') and the ledger's starts: an instance is down for its restart
 * from its stop to its next start line. Within one scheduler, two instances are never down for
 * a restart at once; and within one rollout (no reload of web between two stops), the next
 * stop comes only once the previous instance's new process has been up 1 s, still alive.
 */
export function checkRollouts(f: Facts) {
  const problems: string[] = [];
  const knownBugs: Pick<KnownBugs, 'rolloutTwoDown'> = { rolloutTwoDown: [] };
  const figures = { rollingRestarts: 0, takeoversWhileDown: 0, rolloutsAbandoned: f.records.filter((r) => r.msg.startsWith('rolling restart of web stopped')).length };
  const stops: RolloutStop[] = [];
  for (const [index, r] of f.records.entries()) {
    if (r.msg === 'service stopping' && r.job === 'web' && r.reason === 'restarted for a crontab edit') stops.push({ instance: Number(r.instance), at: Date.parse(r.time), index, life: f.lifeOf(r) });
  }
  figures.rollingRestarts = stops.length;
  const nextStart = (stop: RolloutStop): number => {
    const started = f.startsOf('web', stop.instance).find((run) => run.startAt! > stop.at)?.startAt;
    const died = stop.life === null ? Infinity : f.lives[stop.life]!.diedAt;
    return Math.min(started ?? Infinity, died, f.finalStopAt);
  };
  // Which rollout (which reload of web) a stop belongs to: the last reload logged before it,
  // or the reload logged right after it when no other stop comes between (a rollout's first
  // stop is logged before the reload record when no instance is down; later when one is, as
  // the rollout first waits for it).
  const reloads = f.records.flatMap((r, k) => (changesWeb(r) ? [k] : []));
  // The first stop and its reload's record come from one turn of the event loop (a few ms
  // apart); a stop long before the next reload is the previous rollout's.
  const rolloutOf = (i: number): number => {
    const before = reloads.filter((k) => k < stops[i]!.index).length;
    const after = reloads.find((k) => k > stops[i]!.index);
    const sameTurn = after !== undefined && after < (stops[i + 1]?.index ?? Infinity) && Date.parse(f.records[after]!.time) - stops[i]!.at <= 50;
    return sameTurn ? before + 1 : before;
  };
  const beginsRollout = (i: number): boolean => i === 0 || rolloutOf(i) !== rolloutOf(i - 1);
  for (let i = 0; i < stops.length; i++) {
    const a = stops[i]!;
    const aUp = nextStart(a);
    for (let j = i + 1; j < stops.length && stops[j]!.at < aUp; j++) {
      const b = stops[j]!;
      if (b.instance === a.instance || b.life !== a.life) continue;
      const what = `web#${a.instance} stopped for a restart at ${new Date(a.at).toISOString()} and up again ${aUp - a.at} ms later; web#${b.instance} stopped ${b.at - a.at} ms after it`;
      if (rolloutOf(j) !== rolloutOf(i)) knownBugs.rolloutTwoDown.push(`${what}, for a later edit: two instances down at once`);
      else problems.push(`${what}, in the same rollout: two instances down at once`);
    }
  }
  for (let i = 1; i < stops.length; i++) {
    const [before, stop] = [stops[i - 1]!, stops[i]!];
    if (before.life !== stop.life) continue;
    if (beginsRollout(i)) {
      // Taken over while the previous rollout's instance was down (the first loop catches it).
      if (stop.at < nextStart(before)) figures.takeoversWhileDown++;
      continue;
    }
    if (stop.instance === before.instance) {
      problems.push(`web#${stop.instance} was stopped twice in one rollout (${new Date(before.at).toISOString()}, ${new Date(stop.at).toISOString()})`);
      continue;
    }
    const replacement = f.startsOf('web', before.instance).filter((run) => run.startAt! > before.at && run.startAt! < stop.at).at(-1);
    const end = replacement === undefined ? null : f.endOf(replacement);
    if (replacement === undefined) problems.push(`web#${stop.instance} was stopped for a restart while web#${before.instance}, stopped before it in the same rollout, had not started again`);
    else if (end !== null && end < stop.at) problems.push(`web#${stop.instance} was stopped for a restart after ${runName(replacement)}, the rollout's previous instance, had died`);
    else if (stop.at - replacement.startAt! < Math.min(UP_BEFORE_NEXT_MS, SERVICES.web.stableMs) - SHELL_START_MS) problems.push(`web#${stop.instance} was stopped for a restart ${stop.at - replacement.startAt!} ms after ${runName(replacement)} started: the rollout should wait until it is up ${UP_BEFORE_NEXT_MS} ms`);
  }
  return { problems, knownBugs, figures };
}
