import type { Entry } from '../crontab/types.js';
import type { Trigger } from '../events/run-events.js';
import type { RunHandle } from '../runner/index.js';

/**
 * One accepted run of a job, known by its run id; the trigger says what it stands for (its
 * scheduledAt is the slot's, or the moment of `schedd run`). It lives from its acceptance until
 * its last attempt ends: claiming -> (jitter wait) -> (waiting under --max-concurrent) ->
 * running -> finished, or -> retry wait -> running -> ...
 */
export interface Run {
  readonly id: string;
  readonly entry: Entry;
  readonly trigger: Trigger;
  attempt: number;
  /** The process of the current attempt, while it runs. */
  handle: RunHandle | null;
  /** The jitter or retry wait. */
  timer: unknown;
  cancelled: boolean;
  /** Stopped because schedd is stopping: recorded as interrupted. */
  interrupted: boolean;
  /** Not run after all: its claim was lost (or unrecorded under unrecorded=skip), and why. */
  notRun?: string;
}

/** A slot (or request) not yet a Run: a queued, replacing or catch-up one. */
export interface Pending {
  entry: Entry;
  trigger: Trigger;
}

export interface RunningInfo {
  job: string;
  run: string;
  pid: number | null;
  startedAt: number;
}
