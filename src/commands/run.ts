import { call } from '../control/client.js';
import type { FireResult } from '../dispatch/dispatcher.js';
import { socketPath } from '../daemon/pidfile.js';
import { ExitCode } from '../errors.js';
import { escapeText } from '../terminal.js';

/** `schedd run JOB`: a run now, under the job's overlap policy; prints the run id. */
export async function runCommand(stateDir: string, job: string): Promise<number> {
  const result = await call<FireResult>(socketPath(stateDir), { cmd: 'run', job });
  if (result.status === 'started') {
    process.stdout.write(`${escapeText(String(result.run))}\n`);
    return ExitCode.ok;
  }
  process.stderr.write(`schedd: ${escapeText(`${job} ${result.status}: ${result.reason ?? ''}`)}\n`);
  return result.status === 'skipped' ? ExitCode.failure : ExitCode.ok;
}
