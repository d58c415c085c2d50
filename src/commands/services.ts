import { call } from '../control/client.js';
import type { ServiceAction, ServiceInstanceView } from '../control/commands.js';
import { signalName } from '../control/protocol.js';
import { ExitCode, ScheddError, usageError } from '../errors.js';
import { formatSpan, formatTable } from '../format.js';
import { socketPath } from '../state-dir/paths.js';
import { escapeText, terminalJson } from '../terminal.js';

/** What one instance is doing, in words: `running 2h 5m`, `backoff, next try in 8s`. */
function stateText(row: ServiceInstanceView, now: number): string {
  if ((row.state === 'running' || row.state === 'starting') && row.uptimeMs !== null) return `${row.state} ${formatSpan(row.uptimeMs)}`;
  if (row.nextTryAt !== null) return `${row.state}, next try in ${formatSpan(Date.parse(row.nextTryAt) - now)}`;
  return row.state;
}

function lastExitText(row: ServiceInstanceView, now: number): string {
  const exit = row.lastExit;
  if (exit === null) return '-';
  return `${formatSpan(now - Date.parse(exit.at))} ago: ${exit.reason}`;
}

/** `schedd services`: every instance of every service; exit 3 when the daemon is not running. */
export async function servicesCommand(stateDir: string, options: { json?: boolean }): Promise<number> {
  const { services } = await call(socketPath(stateDir), { cmd: 'services' });
  if (options.json) {
    process.stdout.write(`${terminalJson({ services }, 2)}\n`);
    return ExitCode.ok;
  }
  if (services.length === 0) {
    process.stdout.write('no services (a service is an @reboot entry with the option `# schedd: service`)\n');
    return ExitCode.ok;
  }
  const now = Date.now();
  const rows = [['SERVICE', 'STATE', 'PID', 'RESTARTS', 'LAST EXIT']];
  for (const row of services) {
    const name = row.instances > 1 ? `${row.id}#${row.instance}` : row.id;
    rows.push([name, stateText(row, now), row.pid === null ? '-' : String(row.pid), String(row.restarts), lastExitText(row, now)].map((cell) => escapeText(cell)));
  }
  process.stdout.write(`${formatTable(rows)}\n`);
  return ExitCode.ok;
}

/** What a done action prints: one line per instance addressed. */
function doneLine(action: ServiceAction, row: ServiceInstanceView): string {
  const name = row.instances > 1 ? `${row.id}#${row.instance}` : row.id;
  // The exit of this stop, not an older one (an instance stopped while it waited to restart).
  if (action === 'stop') return `${name}: stopped${row.lastExit === null || !row.lastExit.reason.startsWith('stopped') ? '' : ` (${row.lastExit.reason})`}`;
  if (action === 'reload' || action === 'signal') return `${name}: signalled (pid ${row.pid ?? '-'})`;
  return `${name}: running (pid ${row.pid ?? '-'})`;
}

/**
 * `schedd service start|stop|restart|reload|signal NAME`: exit 0 once done (a restart: when
 * the new process runs), 1 with the reason, 3 when the daemon is not running.
 */
export async function serviceCommand(stateDir: string, action: ServiceAction, name: string, options: { instance?: number; signal?: string; timeout: number }): Promise<number> {
  let signal: NodeJS.Signals | undefined;
  if (action === 'signal') {
    const parsed = options.signal === undefined ? null : signalName(options.signal);
    if (parsed === null) throw usageError(`'${options.signal ?? ''}' is not a signal (expected a name such as USR1, SIGUSR1, HUP)`);
    signal = parsed;
  }
  try {
    const result = await call(socketPath(stateDir), { cmd: 'service', action, name, ...(options.instance === undefined ? {} : { instance: options.instance }), ...(signal === undefined ? {} : { signal }) }, options.timeout);
    process.stdout.write(`${result.instances.map((row) => escapeText(doneLine(action, row))).join('\n')}\n`);
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof ScheddError && error.code === 'SCHEDD_SERVICE') {
      process.stderr.write(`schedd: ${escapeText(error.message)}\n`);
      return ExitCode.failure;
    }
    throw error;
  }
}
