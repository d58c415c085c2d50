// Resource faults for the fault suite: a tiny tmpfs to fill, a lowered descriptor limit.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';

/** Mounts a 1 MiB tmpfs on `dir`; returns why not (not root, not permitted) or null when mounted. */
export function mountTinyTmpfs(dir: string): string | null {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (error) {
    return `cannot mount a tmpfs here: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
}

export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  }
}

/** Writes `path` until the file system has no byte left. */
export function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (let size = 64 * 1024; size >= 1; size = Math.floor(size / 2)) {
      const chunk = Buffer.alloc(size, 0x2e);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

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
