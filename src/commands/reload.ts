import { call } from '../control/client.js';
import { socketPath } from '../state-dir/paths.js';
import { ExitCode } from '../errors.js';
import { formatLocal } from '../format.js';
import { systemZone } from '../schedule/zone.js';
import { escapeText } from '../terminal.js';

/** `schedd reload`: like SIGHUP, but says what happened; exit 1 with every error when rejected. */
export async function reloadCommand(stateDir: string): Promise<number> {
  const result = await call(socketPath(stateDir), { cmd: 'reload' });
  if (!result.ok) {
    for (const error of result.errors) process.stderr.write(`${escapeText(error)}\n`);
    process.stderr.write('schedd: reload rejected; the current schedule keeps running\n');
    return ExitCode.failure;
  }
  const part = (label: string, ids: string[]): string => `${label} ${ids.length}${ids.length > 0 ? ` (${ids.join(', ')})` : ''}`;
  const parts = (r: { added: string[]; changed: string[]; removed: string[] }): string => `${part('added', r.added)}, ${part('changed', r.changed)}, ${part('removed', r.removed)}`;
  if (result.fileUnchanged) {
    // Right after a save the watcher has usually applied it already: "unchanged" alone reads
    // as if the save was ignored.
    const last = result.lastChange;
    const time = last == null ? '' : formatLocal(Date.parse(last.at), systemZone()).slice(11);
    // Job ids come from the crontab, the reason and time from the reply: all escaped.
    process.stdout.write(escapeText(last == null ? 'crontab unchanged since schedd started' : `crontab already applied by the reload at ${time} (${last.reason}): ${parts(last)}`) + '\n');
    return ExitCode.ok;
  }
  process.stdout.write(`${escapeText(`reloaded: ${parts(result)}`)}\n`);
  return ExitCode.ok;
}
