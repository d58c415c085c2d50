import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, scheddBin } from '../common.js';
import { BenchDaemon } from '../daemon.js';
import { pm2Unavailable, startPm2 } from './pm2.js';
import { shellWord, type RunningSupervisor, type ServicePeerName, type ServiceSpec } from './service-types.js';
import { startSupervisord, supervisordUnavailable } from './supervisor.js';

/**
 * The supervisors of the services workload, each configured to restart a crashed service at once
 * (the fair comparison is of the restart machinery, not of default back-offs): schedd's foreground
 * daemon, Debian's supervisord and pm2. Each gets the same services; supervisord and pm2 run the
 * argv as it is, schedd's crontab line is that argv in shell words.
 */

const run = promisify(execFile);

/** The contract of issue 14: an @reboot entry with `service`; restart-delay=0 for an immediate restart. */
export function scheddServiceCrontab(services: readonly ServiceSpec[]): string {
  const lines = services.flatMap((s) => [
    // start-limit well above the crash rounds: a crash must never be answered by `failed`.
    `# schedd: name=${s.label} service restart=always restart-delay=0 start-limit=1000/1m`,
    `@reboot ${s.argv.map(shellWord).join(' ')}`,
  ]);
  return `${lines.join('\n')}\n`;
}

export async function servicePeerUnavailable(name: ServicePeerName): Promise<string | null> {
  if (name === 'supervisord') return supervisordUnavailable();
  if (name === 'pm2') return pm2Unavailable();
  return null;
}

export async function startServicePeer(name: ServicePeerName, services: readonly ServiceSpec[], dir: string): Promise<RunningSupervisor> {
  if (name === 'supervisord') return startSupervisord(services, dir);
  if (name === 'pm2') return startPm2(services, dir);
  return startSchedd(services, dir);
}

/**
 * schedd in the foreground, as the 'schedd' peer of the other workloads. `schedd check` first:
 * a schedd without service support rejects the options there, with the line and column, at once
 * (the daemon would only log it, or run each entry once as a plain @reboot job).
 */
async function startSchedd(services: readonly ServiceSpec[], dir: string): Promise<RunningSupervisor> {
  const crontab = join(dir, 'crontab');
  writeFileSync(crontab, scheddServiceCrontab(services));
  await run(process.execPath, [scheddBin, 'check', crontab], { encoding: 'utf8' }).catch((error: { stdout?: string; stderr?: string }) => {
    // "<file>:1:22: unknown schedd option 'service' (expected ...)" per problem, then "<file>: 4 errors, 0 warnings".
    const lines = `${error.stderr ?? ''}\n${error.stdout ?? ''}`.split(crontab).join('crontab').split('\n').filter((l) => l.trim() !== '');
    const count = lines.find((l) => /^crontab: \d+ errors?/.test(l))?.slice('crontab: '.length);
    throw new Error(`schedd check: ${count === undefined ? '' : `${count}; first: `}${lines[0] ?? String(error)}`);
  });
  const daemon = new BenchDaemon(crontab, join(dir, 'state'));
  const exited = new Promise<never>((_, reject) => daemon.child.once('exit', (code, signal) => reject(new Error(`schedd exited (${signal ?? `exit ${code}`}) before it started`))));
  const started = daemon.waitFor('schedd started', 60_000);
  started.catch(() => undefined); // the race below reports whichever comes first
  exited.catch(() => undefined);
  try {
    await Promise.race([started, exited]);
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  return {
    name: 'schedd',
    version: `${version} (start --foreground)`,
    roots: [daemon.child.pid!],
    stop: () => daemon.stop(),
    kill: () => void daemon.child.kill('SIGKILL'),
  };
}
