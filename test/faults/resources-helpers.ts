// Resource faults for the fault suite: a tiny tmpfs to fill, a lowered descriptor limit.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

export { fillDisk, mountTinyTmpfs, unmount } from '../helpers/tmpfs.js';

export function freeDisk(path: string): void {
  rmSync(path, { force: true });
}

/** Descriptors a process has open now. */
export function openDescriptors(pid: number): number {
  return execFileSync('ls', [`/proc/${pid}/fd`], { encoding: 'utf8' }).split('\n').filter((name) => name !== '').length;
}

/** The soft and hard open-files limits of a process, from /proc. */
export function fileLimit(pid: number): { soft: string; hard: string } {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = line!.replace('Max open files', '').trim().split(/\s+/);
  return { soft: soft!, hard: hard! };
}

/** Sets a running process's open-files limit (prlimit(1), util-linux); returns why not, or null. */
export function setFileLimit(pid: number, soft: string, hard: string): string | null {
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:${hard}`], { stdio: 'pipe' });
    return null;
  } catch (error) {
    return `prlimit failed: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
}
