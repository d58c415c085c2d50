import { formatDuration } from '../crontab/duration.js';
import type { Log } from '../log.js';
import type { Clock } from '../schedule/clock.js';
import { groupExists, liveMembers, terminateGroup } from '../runner/index.js';

/** How often a tracked group is checked for having emptied by itself: one kill(2) each time. */
const CHECK_MS = 5000;
// setTimeout fires after 1 ms for larger delays; a longer timeout (24.8 days) means none.
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Tracked {
  job: string;
  run: string;
  deadline: unknown;
  check: unknown;
  killing: Promise<void> | null;
}

/**
 * Processes a finished run left behind in its process group (`cmd &` that the shell never
 * waited for). The run itself is over and recorded, and the job may run again (these do not
 * count as an active run); but no process of a job's group outlives the job's timeout, measured
 * from the run's start, nor schedd's stop: then the group gets SIGTERM, and SIGKILL after the
 * kill grace. Nothing is tracked, and nothing costs anything, while runs leave nothing behind;
 * each tracked group costs one timer and a kill(2) every CHECK_MS until it is empty.
 */
export class Leftovers {
  private readonly groups = new Map<number, Tracked>();

  constructor(
    private readonly log: Log,
    private readonly killGraceMs: number,
    private readonly clock: Clock,
  ) {}

  /** A run of `job` finished with `count` live processes in group `pgid`. */
  track(job: string, run: string, pgid: number, count: number, remainingMs: number | null): void {
    if (this.groups.has(pgid)) return;
    const until = remainingMs === null || remainingMs > MAX_TIMER_MS ? 'schedd stops' : `its timeout, in ${formatDuration(Math.max(0, Math.round(remainingMs)))}`;
    this.log.warn({ job, run, pid: pgid, count }, `job left ${count} process${count === 1 ? '' : 'es'} behind (killed when ${until})`);
    const deadline = remainingMs === null || remainingMs > MAX_TIMER_MS ? null : this.clock.setTimer(() => void this.kill(pgid, 'timeout'), Math.max(0, remainingMs));
    const tracked: Tracked = { job, run, deadline, check: null, killing: null };
    this.groups.set(pgid, tracked);
    this.checkLater(pgid, tracked);
  }

  /** The next check of a group for having emptied; it never keeps schedd alive by itself. */
  private checkLater(pgid: number, tracked: Tracked): void {
    tracked.check = this.clock.setTimer(() => {
      tracked.check = null;
      if (this.groups.get(pgid) !== tracked || tracked.killing !== null) return;
      if (!groupExists(pgid)) this.drop(pgid);
      else this.checkLater(pgid, tracked);
    }, CHECK_MS);
    (tracked.check as { unref?: () => void }).unref?.();
  }

  private clearTimers(tracked: Tracked): void {
    if (tracked.check !== null) this.clock.clearTimer(tracked.check);
    if (tracked.deadline !== null) this.clock.clearTimer(tracked.deadline);
    tracked.check = null;
    tracked.deadline = null;
  }

  get size(): number {
    return this.groups.size;
  }

  /** SIGTERM, then SIGKILL after the grace, to every tracked group; resolves once all are done. */
  async killAll(reason: string): Promise<void> {
    await Promise.all([...this.groups.keys()].map((pgid) => this.kill(pgid, reason)));
  }

  private kill(pgid: number, reason: string): Promise<void> {
    const tracked = this.groups.get(pgid);
    if (tracked === undefined) return Promise.resolve();
    if (tracked.killing !== null) return tracked.killing;
    this.clearTimers(tracked);
    const count = liveMembers(pgid);
    if (count === 0) {
      this.groups.delete(pgid);
      return Promise.resolve();
    }
    const fields = { job: tracked.job, run: tracked.run, pid: pgid, count, reason };
    this.log.warn(fields, `killing ${count} process${count === 1 ? '' : 'es'} the job left behind (${reason})`);
    tracked.killing = terminateGroup(pgid, this.killGraceMs).done.then((how) => {
      this.groups.delete(pgid);
      this.log.info({ ...fields, signal: how === 'killed' ? 'SIGKILL' : 'SIGTERM' }, 'processes the job left behind are gone');
    });
    return tracked.killing;
  }

  private drop(pgid: number): void {
    const tracked = this.groups.get(pgid);
    if (tracked === undefined || tracked.killing !== null) return;
    this.clearTimers(tracked);
    this.groups.delete(pgid);
  }
}
