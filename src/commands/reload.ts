import { call } from '../control/client.js';
import { socketPath } from '../daemon/pidfile.js';
import { ExitCode } from '../errors.js';
import { escapeText } from '../terminal.js';

interface ReloadResult {
  ok: boolean;
  errors: string[];
  /** The file had not changed since the last load. */
  fileUnchanged: boolean;
  added: string[];
  changed: string[];
  removed: string[];
  unchangedJobs: number;
}

/** `schedd reload`: like SIGHUP, but says what happened; exit 1 with every error when rejected. */
export async function reloadCommand(stateDir: string): Promise<number> {
  const result = await call<ReloadResult>(socketPath(stateDir), { cmd: 'reload' });
  if (!result.ok) {
    for (const error of result.errors) process.stderr.write(`${escapeText(error)}\n`);
    process.stderr.write('schedd: reload rejected; the current schedule keeps running\n');
    return ExitCode.failure;
  }
  if (result.fileUnchanged) {
    process.stdout.write('crontab unchanged\n');
    return ExitCode.ok;
  }
  const part = (label: string, ids: string[]): string => `${label} ${ids.length}${ids.length > 0 ? ` (${ids.join(', ')})` : ''}`;
  process.stdout.write(`reloaded: ${part('added', result.added)}, ${part('changed', result.changed)}, ${part('removed', result.removed)}\n`);
  return ExitCode.ok;
}
