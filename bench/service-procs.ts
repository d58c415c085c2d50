import { readdirSync, readFileSync } from 'node:fs';
import { alive } from './proc.js';

/** Which processes are a supervisor's own, and what they cost beyond proc.ts's RSS. */

/**
 * A supervisor's own processes: `roots` and their descendants, less the services (and anything
 * a service started). A helper that a supervisor keeps beside each service (a wrapper shell, an
 * output relay) is its cost, so it is counted; the services themselves are the same for all.
 */
export function ownProcesses(roots: readonly number[], services: ReadonlySet<number>): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // ended while we looked
    }
  }
  const own: number[] = [];
  const queue = roots.filter(alive);
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (services.has(pid) || own.includes(pid)) continue;
    own.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return own;
}

/**
 * Proportional set size in kB: each shared page split between the processes that map it. Beside
 * RSS because RSS counts the C library of every small helper process in full (a shell wrapper
 * per service: about 1.7 MB of RSS, most of it pages every process shares).
 */
export function pssKb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n').find((l) => l.startsWith('Pss:'));
  return line === undefined ? 0 : Number(line.replace(/\D+/g, ''));
}
