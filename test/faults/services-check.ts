// What the services scenario checks, apart from how it makes its faults: the services' own
// ledger (services-ledger.ts) against the run history and the scheduler's log, given when the
// test killed what, edited the crontab, and stopped and started a service. The restart delays
// and the rolling restarts are checked in services-restarts.ts.
import { CLOCK_SLACK_MS, facts, runName, type Facts, type ServicesInput } from './services-facts.js';
import { SERVICES } from './services-ledger.js';
import { checkRestartDelays, checkRollouts, type KnownBugs } from './services-restarts.js';

export type { Edit, Kill, SchedulerLife, StopWindow } from './services-facts.js';

export interface ServicesFigures {
  runs: number;
  adoptions: number;
  /** Instances a new scheduler found running an old definition: stopped, then started. */
  adoptionsRefused: number;
  lost: number;
  /** Ended just before their scheduler's kill, too late for it to record: lost. */
  unrecordedEnds: number;
  maxAliveWeb: number;
  maxAlivePair: number;
}

/** Deaths explained, no start after the final stop began, nothing left; no two alive per instance. */
function checkProcesses(f: Facts, figures: ServicesFigures): string[] {
  const problems: string[] = [];
  const { runs, finalStopAt, aliveAfterStop } = f;
  for (const run of runs) {
    const kill = f.killByRun.get(run.run);
    if (!(run.job in SERVICES)) problems.push(`${runName(run)}: not a service of the scenario`);
    if (run.startAt !== null && run.startAt > finalStopAt) problems.push(`${runName(run)} started ${run.startAt - finalStopAt} ms after the final stop began`);
    if (kill !== undefined && run.lastSeenAt > kill.atMs + CLOCK_SLACK_MS) problems.push(`${runName(run)} wrote a line ${run.lastSeenAt - kill.atMs} ms after the test's SIGKILL`);
    if (kill === undefined && run.exitAt === null && !aliveAfterStop.includes(run.run)) problems.push(`${runName(run)} died with no exit line and no kill by the test (last line ${new Date(run.lastSeenAt).toISOString()})`);
  }
  if (aliveAfterStop.length > 0) problems.push(`alive after the final stop: ${aliveAfterStop.join(', ')}`);

  for (const [job, service] of Object.entries(SERVICES)) {
    const mine = runs.filter((run) => run.job === job);
    for (const run of mine) if (!Number.isInteger(run.instance) || run.instance < 0 || run.instance >= service.instances) problems.push(`${runName(run)}: instance out of 0..${service.instances - 1}`);
    for (let instance = 0; instance < service.instances; instance++) {
      const own = mine.filter((run) => run.instance === instance).sort((a, b) => (a.startAt ?? a.lastSeenAt) - (b.startAt ?? b.lastSeenAt));
      for (let i = 1; i < own.length; i++) {
        const [before, after] = [own[i - 1]!, own[i]!];
        const from = after.startAt ?? after.lastSeenAt;
        // A known death comes before the successor's start line; an unknown one after its last line.
        const end = f.endOf(before) ?? before.lastSeenAt;
        if (from < end) problems.push(`${job}#${instance}: ${after.run} (pid ${after.pid}) started ${end - from} ms before ${before.run} (pid ${before.pid}) was gone: two processes of one instance`);
      }
    }
    const edges = mine.flatMap((run) => [
      { at: run.startAt ?? run.lastSeenAt, delta: 1 },
      { at: f.endOf(run) ?? run.lastSeenAt, delta: -1 },
    ]);
    edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let alive = 0;
    let most = 0;
    for (const edge of edges) most = Math.max(most, (alive += edge.delta));
    if (most > service.instances) problems.push(`${job}: ${most} processes alive at once, instances=${service.instances}`);
    if (job === 'web') figures.maxAliveWeb = most;
    if (job === 'pair') figures.maxAlivePair = most;
  }
  return problems;
}

/** Every death in the history, as the log said it; lost only where no scheduler could see it. */
function checkHistory(f: Facts, figures: ServicesFigures): string[] {
  const problems: string[] = [];
  for (const run of f.runs) {
    const row = f.historyById.get(run.run);
    if (row === undefined) {
      problems.push(`${runName(run)} is in the ledger but not in the history`);
      continue;
    }
    if (row.job !== run.job || row.instance !== run.instance || row.pid !== run.pid) problems.push(`${runName(run)}: the history has ${row.job}#${row.instance} pid ${row.pid}`);
    if (row.outcome === 'running' || row.finishedAt === null) {
      problems.push(`${runName(run)}: its end is not in the history (${row.outcome}, finishedAt ${row.finishedAt})`);
      continue;
    }
    const logged = f.exitRecord.get(run.run);
    if (logged !== undefined && logged.reason !== row.reason) problems.push(`${runName(run)}: logged '${logged.reason}', the history says '${row.reason}'`);
    const kill = f.killByRun.get(run.run);
    if (kill !== undefined && /\(exit \d+/.test(row.reason ?? '')) problems.push(`${runName(run)} was SIGKILLed, the history says '${row.reason}'`);
    // Lost: its scheduler asked for the TERM and died before the exit (held to that below).
    if (kill === undefined && run.exitAt !== null && row.outcome !== 'lost' && (row.outcome !== 'ok' || /^crashed/.test(row.reason ?? ''))) problems.push(`${runName(run)} exited on TERM, the history says ${row.outcome}: '${row.reason}'`);
    if (row.outcome !== 'lost') continue;
    figures.lost++;
    if (f.adopted.has(run.run)) continue;
    // Its scheduler was killed with it, or before it ended: nobody saw the end.
    const startedBy = f.lives.find((life) => life.pid === run.ppid);
    const end = f.endOf(run);
    if (startedBy?.killed === true && end !== null && end > startedBy.diedAt - 200) {
      if (end <= startedBy.diedAt) figures.unrecordedEnds++;
      continue;
    }
    problems.push(`${runName(run)} recorded lost ('${row.reason}'), though the scheduler that started it (pid ${run.ppid}) was alive to see it end`);
  }
  for (const row of f.history) {
    if (row.instance === null || row.instance === undefined || f.runs.some((run) => run.run === row.runId)) continue;
    // A process stopped before its shell wrote a line leaves no trace in the ledger; a crash must.
    if (row.outcome === 'running' || row.outcome === 'lost' || /^crashed/.test(row.reason ?? '')) problems.push(`history row ${row.runId} (${row.job}#${row.instance}, ${row.outcome}: ${row.reason}) has no process in the ledger`);
  }
  return problems;
}

/** TERM only as asked: an edit leaves unchanged services alone. A stop holds until the start. */
function checkAskedStops(f: Facts): string[] {
  const problems: string[] = [];
  const { runs, stops, edits, finalStopAt } = f;
  const versionAt = (t: number): number => edits.filter((e) => e.atMs < t).at(-1)?.version ?? 0;
  for (const run of runs) {
    if (run.exitAt === null || run.exitAt >= finalStopAt) continue;
    const at = run.exitAt;
    if (run.job === 'pair') problems.push(`${runName(run)} got TERM before the final stop: pair is never edited`);
    if (run.job === 'solo' && !stops.some((w) => w.job === 'solo' && at >= w.stopAt && at <= w.stoppedAt)) problems.push(`${runName(run)} got TERM outside a schedd service stop`);
    if (run.job === 'extra' && !edits.some((e) => !e.extra && e.atMs < at && (run.startAt ?? at) < e.atMs)) problems.push(`${runName(run)} got TERM though no edit removed extra while it ran`);
    // No start line (a TERM before it): what it ran is unknown.
    if (run.job === 'web' && run.version !== null && run.version >= versionAt(at)) problems.push(`${runName(run)} ran VERSION=${run.version} and got TERM while the crontab said VERSION=${versionAt(at)}: an unchanged instance restarted`);
  }
  for (const w of stops) {
    const early = runs.filter((run) => run.job === w.job && run.startAt !== null && run.startAt > (w.inBackoff ? w.stopAt : w.stoppedAt) && run.startAt < w.startAt);
    for (const run of early) problems.push(`${runName(run)} started ${run.startAt! - w.stoppedAt} ms after schedd service stop ${w.job} returned, before the start`);
    if (!runs.some((run) => run.job === w.job && run.startAt !== null && run.startAt >= w.startAt && run.startAt <= w.startedAt)) problems.push(`schedd service start ${w.job} returned with no process started meanwhile`);
  }
  return problems;
}

/**
 * The services invariants, exactly:
 * - no two processes of one instance alive at once ([start, death]: death is the test's kill
 *   time or the process's exit line; a process with neither is alive up to its last line), so
 *   never more than N of a service; every instance number below N;
 * - every death explained (the test's SIGKILL, or a TERM its trap wrote down) and recorded: the
 *   history has a row for each process (same job, instance and pid) with an end, the reason the
 *   log gave, never `lost` unless a later scheduler adopted it or its own scheduler died with it;
 * - TERM only as asked: pair never before the final stop, solo only inside `schedd service stop`,
 *   extra only once removed, web only when it ran an older VERSION than the crontab's;
 * - a stop during backoff holds: nothing starts until `schedd service start`, which starts it;
 * - nothing starts once the final stop began, and nothing is left after it;
 * - restart delays and rolling restarts as services-restarts.ts says.
 * Breaches of the spec that are known product bugs come back apart, in `knownBugs`.
 */
export function checkServicesInvariants(input: ServicesInput) {
  const f = facts(input);
  const figures: ServicesFigures = {
    runs: input.runs.length,
    adoptions: f.adopted.size,
    adoptionsRefused: input.records.filter((r) => r.msg === 'service stopping: left running by a scheduler that died').length,
    lost: 0,
    unrecordedEnds: 0,
    maxAliveWeb: 0,
    maxAlivePair: 0,
  };
  const problems: string[] = [];
  for (const r of input.records) {
    if (r.msg.startsWith('service failed') || r.msg.startsWith('reload failed') || r.msg.startsWith('reload rejected')) problems.push(`the log says ${r.msg}: ${JSON.stringify(r)}`);
  }
  problems.push(...checkProcesses(f, figures), ...checkHistory(f, figures), ...checkAskedStops(f));
  const delays = checkRestartDelays(f);
  const rollouts = checkRollouts(f);
  problems.push(...delays.problems, ...rollouts.problems);
  const knownBugs: KnownBugs = { ...delays.knownBugs, ...rollouts.knownBugs };
  return { problems, knownBugs, figures: { ...figures, ...delays.figures, ...rollouts.figures } };
}
