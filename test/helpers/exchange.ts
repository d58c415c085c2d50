import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { spawnAs, type TestUser } from './users.js';

/**
 * The swap an attacker races against a check-then-use: `renameat2(a, b, RENAME_EXCHANGE)`
 * atomically trades two directory entries. Node has no binding for it; python3's ctypes calls
 * libc directly, so no compiler is needed. The loop runs as `user` until the child is killed,
 * swapping every `pauseUs` microseconds (0: as fast as it can).
 */
const SCRIPT = `
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b, pause = sys.argv[1].encode(), sys.argv[2].encode(), int(sys.argv[3]) / 1e6
print("swapping", flush=True)
while True:
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        print("renameat2:", os.strerror(err), file=sys.stderr, flush=True)
        sys.exit(1)
    if pause:
        time.sleep(pause)
`;

/** Debian's python3: a pyenv shim in root's home is not reachable by the attacking user. */
const PYTHON = '/usr/bin/python3';

export function swapLoop(user: TestUser, a: string, b: string, pauseUs = 0): ChildProcessByStdio<null, Readable, Readable> {
  return spawnAs(user, PYTHON, ['-c', SCRIPT, a, b, String(pauseUs)]);
}

/** Swaps the two entries once, as `user`. */
export function swapOnce(user: TestUser, a: string, b: string): ChildProcessByStdio<null, Readable, Readable> {
  return spawnAs(user, PYTHON, ['-c', `import ctypes, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nsys.exit(0 if libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2) == 0 else 1)`, a, b]);
}
