import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { PeerJob } from './types.js';

/**
 * Debian's cron in the foreground, in its own mount namespace: empty directories are bound over
 * /etc/cron.d, /etc/cron.{hourly,...}, the spool and /run (its pidfile and @reboot marker), and
 * a bench-only file over /etc/crontab, so it sees only the benchmark's jobs and leaves nothing
 * behind. The wrapper execs cron, so the pid we spawn is cron's own.
 */

const WRAPPER = `#!/bin/sh
set -e
root="$1"
for d in /etc/cron.d /etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly /etc/cron.yearly /var/spool/cron/crontabs /run; do
  if [ -d "$d" ]; then mount --bind "$root/empty" "$d"; fi
done
mount --bind "$root/crontab" /etc/crontab
exec cron -f -L 0
`;

function onPath(command: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(delimiter)
    .concat(['/usr/sbin', '/sbin'])
    .some((dir) => existsSync(join(dir, command)));
}

/** Why cron's column is empty on this machine, or null when it can run. */
export function cronUnavailable(): string | null {
  if (!onPath('cron')) return 'cron is not installed (Debian/Ubuntu: apt-get install cron); its column is skipped';
  if (!onPath('unshare')) return 'unshare (util-linux) is missing; cron is skipped';
  if (process.getuid?.() !== 0) return 'cron runs in its own mount namespace, which needs root; cron is skipped';
  return null;
}

/** The system crontab format (a user column); cron has minute resolution, so five fields only. */
export function cronCrontab(jobs: readonly PeerJob[]): string {
  const lines = ['SHELL=/bin/sh', 'PATH=/usr/bin:/bin', 'MAILTO=""'];
  for (const job of jobs) {
    for (const schedule of job.schedules) {
      if (schedule.trim().split(/\s+/).length !== 5) throw new Error(`cron has no seconds field: '${schedule}'`);
      lines.push(`${schedule} root ${job.command}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Starts cron over `dir/crontab` (rewrite that file in place to edit it: the bind follows the inode). */
export function spawnCron(dir: string, jobs: readonly PeerJob[]): ReturnType<typeof spawn> {
  mkdirSync(join(dir, 'empty'), { recursive: true });
  writeFileSync(join(dir, 'crontab'), cronCrontab(jobs), { mode: 0o644 });
  chmodSync(join(dir, 'crontab'), 0o644); // cron ignores a group- or world-writable /etc/crontab
  writeFileSync(join(dir, 'cron-wrapper.sh'), WRAPPER, { mode: 0o755 });
  return spawn('unshare', ['--mount', '--propagation', 'private', 'sh', join(dir, 'cron-wrapper.sh'), dir], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function isCron(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'cron';
  } catch {
    return false;
  }
}
