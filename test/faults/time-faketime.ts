// A faked wall clock for a whole process tree, with libfaketime: LD_PRELOAD'ed, it answers
// clock_gettime(CLOCK_REALTIME) and time() with the real time plus an offset read from a file,
// which the test rewrites to jump the clock. The monotonic clock (libuv's timers) stays real,
// as it does when an administrator or NTP sets the wall clock. Jobs inherit the environment,
// so their own `date` agrees with the daemon's clock.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const LIBRARY = 'libfaketime.so.1';

/** Where libfaketime is on this machine (Debian's package first, then the usual places), or null. */
export function findLibfaketime(): string | null {
  try {
    const files = execFileSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n');
    const found = files.find((file) => file.endsWith(`/${LIBRARY}`));
    if (found !== undefined && existsSync(found)) return found;
  } catch {
    // Not a Debian system, or the package is not installed.
  }
  const folders = ['/usr/local/lib/faketime', '/usr/lib/faketime', '/usr/lib64/faketime'];
  try {
    for (const arch of readdirSync('/usr/lib')) folders.push(join('/usr/lib', arch, 'faketime'));
  } catch {
    // no /usr/lib
  }
  return folders.map((folder) => join(folder, LIBRARY)).find((path) => existsSync(path)) ?? null;
}

/** A wall clock for the processes started with `env`, set and jumped through an offset file. */
export class FakedWallClock {
  readonly env: NodeJS.ProcessEnv;
  private offsetS = 0;

  constructor(
    library: string,
    private readonly offsetFile: string,
  ) {
    this.env = {
      LD_PRELOAD: library,
      FAKETIME_TIMESTAMP_FILE: offsetFile,
      // Read the file on every call, so a jump takes effect at once.
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    };
  }

  /** Sets the faked clock so that it reads `iso` now (to the second). */
  setTo(iso: string): void {
    this.write(Math.round((Date.parse(iso) - Date.now()) / 1000));
  }

  /** Moves the faked clock by `seconds` (negative: back). */
  jump(seconds: number): void {
    this.write(this.offsetS + seconds);
  }

  /** What the faked clock reads now. */
  now(): number {
    return Date.now() + this.offsetS * 1000;
  }

  private write(offsetS: number): void {
    this.offsetS = offsetS;
    // Atomic: a process reading it mid-write would see no offset at all.
    writeFileSync(`${this.offsetFile}.tmp`, `${offsetS >= 0 ? '+' : ''}${offsetS}s\n`);
    renameSync(`${this.offsetFile}.tmp`, this.offsetFile);
  }
}
