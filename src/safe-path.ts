import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, sep } from 'node:path';

/**
 * Whether a directory can be changed by someone other than the people who should: the rule
 * OpenSSH applies to the paths of key files. Every directory from `/` down to `dir` (after
 * resolving links) must be owned by root or by one of `owners`, and not writable by group or
 * others unless it is sticky (`/tmp`: others may add entries but not replace ours).
 *
 * A root daemon that trusts a path anyone else could rewrite runs that person's input as root;
 * this check is what stands between the two. It returns the first problem, or null.
 */
export function unsafeAncestor(dir: string, owners: readonly number[]): string | null {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (error) {
    return `${dir}: ${(error as Error).message}`;
  }
  const allowed = new Set([0, ...owners]);
  for (let current = real; ; current = dirname(current)) {
    const problem = unsafeDirectory(current, allowed);
    if (problem !== null || current === sep || current === dirname(current)) return problem;
  }
}

/** `0`, `0 or 1001`: the uids an owner may have, for messages. */
export function expectedUids(uids: Iterable<number>): string {
  return [...new Set(uids)].join(' or ');
}

/** Links followed before a walk gives up, as the kernel does (ELOOP). */
const MAX_LINKS = 40;

/**
 * The OpenSSH rule for every directory a lookup of `path` passes through, walked as the kernel
 * walks it: each component is looked up in a directory that must be safe, and a link's target
 * is walked from the directory holding the link (or from `/`). unsafeAncestor on the resolved
 * directory alone misses a link that sits in someone else's directory (`/srv/theirs/lnk` to a
 * root file): they cannot change the target, but they can point the link at another one. The
 * last component itself is not judged: the caller checks what it opened. Returns the first
 * problem, or null. With missingOk, also null when a component does not exist yet, and a
 * failed look (EACCES) is thrown.
 */
export function unsafeWalk(path: string, owners: readonly number[], options: { missingOk?: boolean } = {}): string | null {
  const allowed = new Set([0, ...owners]);
  const pending = components(path);
  let dir: string = sep;
  let problem = unsafeDirectory(dir, allowed);
  let links = 0;
  while (problem === null && pending.length > 0) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      dir = dirname(dir);
      continue;
    }
    const full = dir === sep ? `${sep}${name}` : `${dir}${sep}${name}`;
    let stat;
    try {
      stat = lstatSync(full);
    } catch (error) {
      if (options.missingOk !== true) return `${full}: ${(error as Error).message}`;
      // Not there yet (a state directory `start` will create): nothing below it to judge. Any
      // other failure (EACCES) is the caller's to word.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    if (stat.isSymbolicLink()) {
      if (++links > MAX_LINKS) return `${path}: too many levels of symbolic links`;
      const target = readlinkSync(full);
      if (target.startsWith(sep)) dir = sep;
      pending.unshift(...components(target));
      continue;
    }
    if (pending.length === 0) return null;
    dir = full;
    problem = unsafeDirectory(dir, allowed);
  }
  return problem;
}

function components(path: string): string[] {
  return path.split(sep).filter((part) => part !== '');
}

function unsafeDirectory(dir: string, allowed: ReadonlySet<number>): string | null {
  const stat = lstatSync(dir);
  if (!allowed.has(stat.uid)) return `${dir} is owned by uid ${stat.uid} (expected ${expectedUids(allowed)})`;
  if ((stat.mode & 0o022) !== 0 && (stat.mode & 0o1000) === 0) {
    return `${dir} is writable by group or others (mode ${(stat.mode & 0o7777).toString(8)}; expected no write bit for them, or the sticky bit)`;
  }
  return null;
}
