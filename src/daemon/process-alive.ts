import { readFileSync } from 'node:fs';

/**
 * Whether a process still runs. A zombie does not: it has exited, and only its parent (init,
 * for a daemon or an orphaned job) has yet to reap it, which some inits do late.
 */
export function processAlive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return true;
  }
}
