// The services scenario's record of what happened (what the test did, what the processes wrote,
// what schedd logged and recorded) and the facts every check reads off it, worked out once.
import type { RunRecord } from '../../src/store/types.js';
import type { LogLine } from '../helpers/detached.js';
import type { ServiceRun } from './services-ledger.js';

/** A SIGKILL the test sent: to the process, or to its whole group. */
export interface Kill {
  run: string;
  job: string;
  instance: number;
  pid: number;
  atMs: number;
  group: boolean;
}

/** One scheduler process; it wrote the log records after the previous one's death up to its own. */
export interface SchedulerLife {
  pid: number;
  /** When the test killed it (just before the kill), or when the final stop returned. */
  diedAt: number;
  killed: boolean;
}

/** A `schedd service stop` and the `schedd service start` after it: when each was called and returned. */
export interface StopWindow {
  job: string;
  stopAt: number;
  stoppedAt: number;
  startAt: number;
  startedAt: number;
  /** The stop found the service waiting to restart (the last exit it printed was the crash). */
  inBackoff: boolean;
}

/** The crontab as written at `atMs` (the first one at 0). */
export interface Edit {
  atMs: number;
  version: number;
  extra: boolean;
}

export interface ServicesInput {
  runs: readonly ServiceRun[];
  kills: readonly Kill[];
  lives: readonly SchedulerLife[];
  stops: readonly StopWindow[];
  edits: readonly Edit[];
  /** When the final `schedd stop` was sent. */
  finalStopAt: number;
  records: readonly LogLine[];
  history: readonly RunRecord[];
  /** Run ids whose process still lived once the final stop had returned. */
  aliveAfterStop: readonly string[];
}

/** What every check reads off the input, worked out once. */
export interface Facts extends ServicesInput {
  killByRun: ReadonlyMap<string, Kill>;
  /** The 'service exited' record of each run that has one. */
  exitRecord: ReadonlyMap<string, LogLine>;
  /** The 'service adopted' record of each run a later scheduler adopted. */
  adopted: ReadonlyMap<string, LogLine>;
  historyById: ReadonlyMap<string, RunRecord>;
  /** Index in lives of the scheduler that wrote a record. */
  lifeOf(record: LogLine): number | null;
  /** When a run died, if the test knows: its kill, or its exit line. */
  endOf(run: ServiceRun): number | null;
  /** Runs of one instance with a start line, in order. */
  startsOf(job: string, instance: number): ServiceRun[];
}

export function facts(input: ServicesInput): Facts {
  const killByRun = new Map(input.kills.map((kill) => [kill.run, kill]));
  const exitRecord = new Map<string, LogLine>();
  const adopted = new Map<string, LogLine>();
  for (const r of input.records) {
    if (r.run === undefined) continue;
    if (r.msg === 'service exited') exitRecord.set(r.run, r);
    if (r.msg.startsWith('service adopted')) adopted.set(r.run, r);
  }
  const { lives } = input;
  return {
    ...input,
    killByRun,
    exitRecord,
    adopted,
    historyById: new Map(input.history.map((row) => [row.runId, row])),
    lifeOf(record) {
      const at = Date.parse(record.time);
      const index = lives.findIndex((life, i) => at <= life.diedAt && (i === 0 || at > lives[i - 1]!.diedAt));
      return index < 0 ? null : index;
    },
    endOf(run) {
      const killed = killByRun.get(run.run)?.atMs;
      if (killed === undefined) return run.exitAt;
      return run.exitAt === null ? killed : Math.min(killed, run.exitAt);
    },
    startsOf(job, instance) {
      return input.runs.filter((run) => run.job === job && run.instance === instance && run.startAt !== null).sort((a, b) => a.startAt! - b.startAt!);
    },
  };
}

export function runName(run: ServiceRun): string {
  return `${run.job}#${run.instance} ${run.run} (pid ${run.pid})`;
}

/** Slack of one millisecond each way: the shell's `date +%s%3N` and Date.now() both truncate. */
export const CLOCK_SLACK_MS = 2;
