import { createHash } from 'node:crypto';
import { programName } from './program-name.js';

/**
 * A job's identity when it has no `name` option: a readable slug of the program it runs
 * (program-name.ts: `debian-sa1`, not the `command -v` guard in front of it) plus a hash of what
 * the job does (user, command, input). The schedule is left out on purpose, so retiming a
 * job keeps its id (and later its history); identical entries are told apart by order (`-2`).
 */
export function derivedId(command: string, stdin: string | null, user: string | undefined): string {
  const hash = createHash('sha256')
    .update(`${user ?? ''}\u0000${command}\u0000${stdin ?? ''}`)
    .digest('hex')
    .slice(0, 8);
  return `${slug(command)}-${hash}`;
}

/** Script extensions dropped from the name: `rotate-logs.sh` is `rotate-logs`. */
const SCRIPT_EXTENSION = /\.(sh|bash|py|pl|php|rb|js|mjs|cjs|ts)$/;

function slug(command: string): string {
  const program = programName(command) ?? 'job';
  const cleaned = program
    .toLowerCase()
    .replace(SCRIPT_EXTENSION, '')
    .replace(/[^a-z0-9_]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '');
  return (cleaned || 'job').slice(0, 32).replace(/[-_]+$/, '');
}
