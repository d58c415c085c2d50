import { lstatSync, realpathSync } from 'node:fs';
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
    const stat = lstatSync(current);
    if (!allowed.has(stat.uid)) return `${current} is owned by uid ${stat.uid} (expected ${expectedUids(allowed)})`;
    const sticky = (stat.mode & 0o1000) !== 0;
    if ((stat.mode & 0o022) !== 0 && !sticky) {
      return `${current} is writable by group or others (mode ${(stat.mode & 0o7777).toString(8)}; expected no write bit for them, or the sticky bit)`;
    }
    if (current === sep || current === dirname(current)) return null;
  }
}

/** `0`, `0 or 1001`: the uids an owner may have, for messages. */
export function expectedUids(uids: Iterable<number>): string {
  return [...new Set(uids)].join(' or ');
}
