import { readdirSync, readFileSync } from 'node:fs';

/** What /proc says about one process, for the idle and sustained figures. */

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux this runs on

/** utime + stime of the whole process (all threads), in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

function statusField(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}:`));
  return line === undefined ? 0 : Number(line.replace(/\D+/g, ''));
}

export function rssKb(pid: number): number {
  return statusField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
}

/** Peak RSS so far (VmHWM), in kB. */
export function peakRssKb(pid: number): number {
  return statusField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmHWM');
}

/**
 * Context switches summed over every thread: each one is the thread going to sleep or being
 * preempted, so the delta over a quiet window counts wake-ups (Node's worker threads included).
 */
export function contextSwitches(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
      total += statusField(text, 'voluntary_ctxt_switches') + statusField(text, 'nonvoluntary_ctxt_switches');
    } catch {
      // the thread ended between readdir and read
    }
  }
  return total;
}

export function threadCount(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
