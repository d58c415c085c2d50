// The hostile local user's world: root-only files to aim links at (and to compare afterwards),
// a drop box the attacker owns where jobs write what they saw, the attacker's own programs
// (a fake control socket, a lock squatter), and the daemons started the way the attacks need.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { cliEnv, cliPath, collect, type CliResult } from '../helpers/cli.js';
import { type Instance } from '../helpers/detached.js';
import { spawnAs, type TestUser } from '../helpers/users.js';

/** Debian's python3: a pyenv shim in root's home is not reachable by the attacking user. */
export const PYTHON = '/usr/bin/python3';

/** Everything an attack needs to judge its outcome, removed at the end. */
export class World {
  /** Root-only (0700) folder holding the files the attacker aims her links at. */
  readonly vault = mkdtempSync(join(tmpdir(), 'schedd-hu-vault-'));
  /** The attacker's own folder (0755): the ledgers jobs write are here, 0666. */
  readonly dropbox = mkdtempSync(join(tmpdir(), 'schedd-hu-drop-'));
  /** Root 0600: the file the starter's shell has open as fd 50. */
  readonly secret: string;
  readonly secretText = `SECRET-${randomUUID()}`;
  private readonly cleanups: (() => void)[] = [];
  private count = 0;

  constructor(readonly attacker: TestUser) {
    chmodSync(this.vault, 0o700);
    chownSync(this.dropbox, attacker.uid, attacker.gid);
    chmodSync(this.dropbox, 0o755);
    this.secret = this.target('secret', this.secretText);
  }

  /** A root 0600 file with its own content, in the vault. */
  target(name: string, text = `root only: ${name} ${randomUUID()}\n`): string {
    const path = join(this.vault, `${++this.count}-${name}`);
    writeFileSync(path, text, { mode: 0o600 });
    chmodSync(path, 0o600);
    return path;
  }

  /** A path in the vault where nothing is (a dangling link's aim: nothing may appear there). */
  nothing(name: string): string {
    return join(this.vault, `${++this.count}-${name}-absent`);
  }

  /** An empty file in the drop box that root's and the attacker's jobs can both append to. */
  ledger(name: string): string {
    const path = join(this.dropbox, `${++this.count}-${name}`);
    writeFileSync(path, '');
    chmodSync(path, 0o666);
    return path;
  }

  /** A fresh folder in /tmp (root, 0755) for one attack; removed at the end. */
  folder(name: string): string {
    const dir = mkdtempSync(join(tmpdir(), `schedd-hu-${name}-`));
    chmodSync(dir, 0o755);
    this.cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  cleanup(): void {
    for (const fn of this.cleanups.splice(0)) fn();
    rmSync(this.vault, { recursive: true, force: true });
    rmSync(this.dropbox, { recursive: true, force: true });
  }
}

/** Owner, mode and content of a file, to say afterwards what changed. */
export interface Snapshot {
  path: string;
  uid: number;
  gid: number;
  mode: number;
  text: string;
}

export function snapshot(path: string): Snapshot {
  const stat = lstatSync(path);
  return { path, uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o7777, text: readFileSync(path, 'utf8') };
}

/** How the file differs from its snapshot, or null when owner, mode and content are unchanged. */
export function changed(before: Snapshot): string | null {
  let now: Snapshot;
  try {
    now = snapshot(before.path);
  } catch (error) {
    return `${before.path} is gone (${(error as NodeJS.ErrnoException).code})`;
  }
  const what: string[] = [];
  if (now.uid !== before.uid || now.gid !== before.gid) what.push(`became uid ${now.uid} gid ${now.gid}`);
  if (now.mode !== before.mode) what.push(`mode ${before.mode.toString(8)} became ${now.mode.toString(8)}`);
  if (now.text !== before.text) what.push(`content changed (${before.text.length} -> ${now.text.length} bytes)`);
  return what.length === 0 ? null : `${before.path} ${what.join(', ')}`;
}

/** A problem when something exists at `path` (a link's aim where nothing was). */
export function created(path: string): string | null {
  return existsSync(path) ? `${path} was created through the link` : null;
}

/** Non-empty lines of a ledger. */
export function ledgerLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((line) => line !== '');
  } catch {
    return [];
  }
}

/** Starts a program as the attacker and resolves once it printed `ready` on stdout. */
export async function startAs(user: TestUser, file: string, args: readonly string[], ready: string): Promise<ChildProcessByStdio<null, Readable, Readable>> {
  const child = spawnAs(user, file, args);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  await waitUntil(`${user.name}'s ${file} to say ${ready}`, () => {
    if (child.exitCode !== null) throw new Error(`${user.name}'s ${file} exited ${child.exitCode}: ${err}`);
    return out.includes(ready);
  });
  return child;
}

/** A control socket at `path` that answers every request with `reply`; prints `listening`. */
export const FAKE_SOCKET = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.settimeout(2)
        c.recv(65536)
        c.sendall(sys.argv[2].encode() + b"\\n")
    except OSError:
        pass
    c.close()
`;

/**
 * Binds every abstract socket name given (without the leading NUL) and holds them; prints
 * `bound`. Each name twice: as is, and NUL-padded to the whole sun_path, which is how Node
 * binds an abstract name (/proc/net/unix shows it with its padding, so an attacker sees it).
 */
export const SQUAT = `
import socket, sys, time
held = []
for name in sys.argv[1:]:
    raw = b"\\0" + name.encode()
    for address in (raw, raw + b"\\0" * (108 - len(raw))):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(address)
            s.listen(1)
            held.append(s)
        except OSError as e:
            print("taken", name, e, file=sys.stderr, flush=True)
print("bound", len(held), flush=True)
time.sleep(10 ** 6)
`;

/**
 * The attacker's crontab race, timed by inotify rather than by luck: her file takes the place of
 * root's (renameat2 RENAME_EXCHANGE); each time the daemon reads it (IN_ACCESS in the folder,
 * which is hers), she swaps root's file back for the daemon's separate stat, then hers again for
 * every later read, until her job has written its ledger. Prints `racing` once in place.
 * Arguments: her file, root's file, her job's ledger.
 */
export const INOTIFY_RACE = `
import ctypes, os, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
hers, roots, ledger = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3]
name = os.path.basename(roots)
def swap():
    if libc.renameat2(-100, hers, -100, roots, 2) != 0:
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
fd = libc.inotify_init()
if fd < 0 or libc.inotify_add_watch(fd, os.path.dirname(roots), 0x1) < 0:
    sys.exit("inotify: " + os.strerror(ctypes.get_errno()))
swap()
print("racing", flush=True)
tries = 0
while os.path.getsize(ledger) == 0:
    events, offset, read = os.read(fd, 65536), 0, False
    while offset < len(events):
        _, _, _, length = struct.unpack_from("iIII", events, offset)
        read = read or events[offset + 16:offset + 16 + length].rstrip(b"\\0") == name
        offset += 16 + length
    if read:
        swap()
        time.sleep(0.005)
        swap()
        tries += 1
print("won after", tries, "tries", flush=True)
time.sleep(10 ** 6)
`;
import { waitUntil } from '../helpers/wait.js';

/**
 * Runs the built CLI the way an admin's shell would with a descriptor open: bash opens `file`
 * as fd 50, then execs schedd, carrying the instance's cleanup mark (see detached.ts).
 */
export function spawnWithFd50(instance: Instance, file: string, args: readonly string[]): ChildProcessByStdio<null, Readable, Readable> {
  const env = cliEnv({ HOME: instance.dir, SCHEDD_TEST_MARK: instance.mark, NODE_TEST_CONTEXT: undefined });
  return spawn('bash', ['-c', 'exec 50<"$0"; exec "$@"', file, process.execPath, cliPath, ...args], { cwd: instance.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function runWithFd50(instance: Instance, file: string, args: readonly string[]): Promise<CliResult> {
  return collect(spawnWithFd50(instance, file, args));
}

/** The built CLI as a child the caller owns (a foreground daemon), with the instance's mark. */
export function spawnCli(instance: Instance, args: readonly string[]): ChildProcessByStdio<null, Readable, Readable> {
  const env = cliEnv({ HOME: instance.dir, SCHEDD_TEST_MARK: instance.mark, NODE_TEST_CONTEXT: undefined });
  return spawn(process.execPath, [cliPath, ...args], { cwd: instance.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves once `instance` answers `status` (true), or false when `child` exits first or at the deadline. */
export async function answers(instance: Instance, child: { exitCode: number | null; signalCode: NodeJS.Signals | null } | null, timeoutMs = 15_000): Promise<boolean> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const status = await instance.cli(['status', '--json', '--state-dir', instance.stateDir]);
    if (status.code === 0) return true;
    if (child !== null && (child.exitCode !== null || child.signalCode !== null)) return false;
    if (Date.now() > giveUpAt) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The probe a job runs to report, as one ledger line, its uid, the descriptors its shell holds,
 * where fd 50 points (or `none`) and what it could read through it. pread, not read: the
 * descriptor's offset is shared by every process that inherited it, so the first reader would
 * leave the others at end of file. The probe lists its parent's descriptors, the job's shell,
 * and writes its ledger itself: a redirection would have the shell hold copies (dash saves the
 * originals above 9).
 */
const FD_PROBE = `import os, sys
fds = sorted(int(name) for name in os.listdir('/proc/' + str(os.getppid()) + '/fd'))
try:
    aim = os.readlink('/proc/self/fd/50')
except OSError:
    aim = 'none'
try:
    got = os.pread(50, 256, 0).decode().strip() or 'nothing'
except OSError:
    got = 'none'
with open(sys.argv[1], 'a') as ledger:
    print(os.getuid(), 'fds=' + ','.join(map(str, fds)), 'fd50=' + aim, 'read=' + got, file=ledger)
`;

/** Writes the probe into `folder` (root's, 0755) and returns the job command that runs it. */
export function fdProbe(folder: string, ledger: string): string {
  const script = join(folder, 'fd-probe.py');
  writeFileSync(script, FD_PROBE);
  chmodSync(script, 0o644);
  // Not the last command, so the shell does not exec python in its place.
  return `${PYTHON} ${script} ${ledger}; true`;
}

/** Raw control bytes a job can send to a terminal: C0 but tab and newline, DEL, C1. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u;

/** The first raw control byte in `text` with a little context, or null. */
export function rawControl(text: string): string | null {
  const match = CONTROL.exec(text);
  if (match === null) return null;
  const code = match[0].codePointAt(0)!;
  const around = JSON.stringify(text.slice(Math.max(0, match.index - 12), match.index + 12));
  return `raw 0x${code.toString(16).padStart(2, '0')} in ${around}`;
}
