import { createHash } from 'node:crypto';

/**
 * A job's identity when it has no `name` option: a readable slug of the program plus a hash of
 * what the job does (user, command, input). The schedule is left out on purpose, so retiming a
 * job keeps its id (and later its history); identical entries are told apart by order (`-2`).
 */
export function derivedId(command: string, stdin: string | null, user: string | undefined): string {
  const hash = createHash('sha256')
    .update(`${user ?? ''}\u0000${command}\u0000${stdin ?? ''}`)
    .digest('hex')
    .slice(0, 8);
  return `${slug(command)}-${hash}`;
}

function slug(command: string): string {
  // The first word that is not an assignment or a common wrapper names the job best.
  const words = command.trim().split(/\s+/);
  const word = words.find((w) => !w.includes('=') && !['exec', 'nice', 'ionice', 'env', 'sudo', 'cd', 'timeout'].includes(w)) ?? 'job';
  const base = word.split('/').pop() ?? word;
  const cleaned = base.replace(/\.[a-z0-9]+$/i, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return (cleaned || 'job').slice(0, 24);
}
