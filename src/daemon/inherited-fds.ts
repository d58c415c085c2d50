import { closeSync, readdirSync, readFileSync } from 'node:fs';

/** The close-on-exec bit in /proc/PID/fdinfo/N `flags:` (octal, as O_CLOEXEC on Linux). */
const O_CLOEXEC = 0o2000000;

/**
 * Closes every descriptor above 2 that this process inherited, so that nothing open in the
 * shell that ran `schedd start` (say fd 50 on a root-only file) reaches a job, whoever the job
 * runs as. Called first thing, before Node opens anything of schedd's.
 *
 * Inherited means without close-on-exec: libuv and Node open all of their own descriptors
 * (epoll, signal pipes, the IPC channel) with O_CLOEXEC, so those never reach a child anyway
 * and are left alone. Kept: `keep` (the readiness pipe of the hidden `__watchdog` command,
 * which its parent hands over on fd 3). Without /proc nothing is closed.
 */
export function closeInheritedDescriptors(keep: readonly number[] = []): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const closed: number[] = [];
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= 2 || keep.includes(fd)) continue;
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // the directory listing's own descriptor, closed by now
    }
    const flags = /^flags:\s*([0-7]+)/m.exec(info)?.[1];
    if (flags === undefined || (parseInt(flags, 8) & O_CLOEXEC) !== 0) continue;
    try {
      closeSync(fd);
      closed.push(fd);
    } catch {
      // already closed
    }
  }
  return closed;
}

/** What `schedd ARGS` must keep open: the readiness pipe of `__watchdog`, and Node's IPC channel. */
export function ownDescriptors(argv: readonly string[], env: NodeJS.ProcessEnv): number[] {
  const keep: number[] = [];
  if (argv[0] === '__watchdog') keep.push(3);
  const channel = Number(env.NODE_CHANNEL_FD);
  if (env.NODE_CHANNEL_FD !== undefined && Number.isInteger(channel)) keep.push(channel);
  return keep;
}
