import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Default locations. Root gets the system paths; everyone else XDG-style paths in their home.
 * The environment variables win over both, and command-line options over everything.
 */

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function defaultCrontabPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SCHEDD_CRONTAB) return resolve(env.SCHEDD_CRONTAB);
  return isRoot() ? '/etc/schedd/crontab' : join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'schedd', 'crontab');
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SCHEDD_STATE_DIR) return resolve(env.SCHEDD_STATE_DIR);
  return isRoot() ? '/var/lib/schedd' : join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'schedd');
}

export function crontabPath(option: string | undefined): string {
  return option === undefined ? defaultCrontabPath() : resolve(option);
}
