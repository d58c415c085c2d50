import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { errorText, waitUntil } from '../common.js';
import { alive } from '../proc.js';
import type { RunningSupervisor, ServiceSpec } from './service-types.js';

/**
 * pm2 from npm. It is not a dependency of the project (it is large, and CI runs `npm ci`): the
 * bench installs the pinned version on first use into a cache outside the repository, or uses
 * a `pm2` on PATH. Each run has its own PM2_HOME in the temporary directory, so ~/.pm2 and any
 * pm2 the user runs are never touched, and `pm2 kill` ends its God daemon and the services.
 *
 * Each app: fork mode with `interpreter: none` (the God daemon spawns the argv itself, no Node
 * wrapper), `autorestart: true`, `restart_delay: 0` and no exponential back-off. pm2 counts a
 * restart as unstable when the process ran less than `min_uptime` (1 s, left as is: every
 * service has run longer when it is killed) and stops after `max_restarts` of those, set high.
 */

export const PM2_VERSION = '7.0.4';

const run = promisify(execFile);

interface Pm2Cli {
  /** The pm2 CLI script, run with this Node. */
  script: string;
  version: string;
}

function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'schedd-bench', `pm2-${PM2_VERSION}`);
}

/** The same, for messages that end up in the results file. */
const CACHE_LABEL = `$XDG_CACHE_HOME (~/.cache)/schedd-bench/pm2-${PM2_VERSION}`;

function installed(prefix: string): Pm2Cli | undefined {
  const pkg = join(prefix, 'node_modules', 'pm2', 'package.json');
  if (!existsSync(pkg)) return undefined;
  return { script: join(dirname(pkg), 'bin', 'pm2'), version: (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version };
}

/** A pm2 on PATH: its package is the folder above the bin/pm2 its link points to. */
function onPath(): Pm2Cli | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || !existsSync(join(dir, 'pm2'))) continue;
    try {
      const script = realpathSync(join(dir, 'pm2'));
      const pkg = join(dirname(script), '..', 'package.json');
      return { script, version: `${(JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version} (on PATH)` };
    } catch {
      // not an npm-installed pm2; keep looking
    }
  }
  return undefined;
}

/** Into a fresh folder renamed into place, so an interrupted install is never taken for one. */
async function install(): Promise<Pm2Cli> {
  const target = cacheDir();
  const partial = `${target}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  console.log(`installing pm2@${PM2_VERSION} into ${target} (once)`);
  try {
    // From inside the folder: the repository's own npm settings and lockfile stay out of it.
    await run('npm', ['install', '--prefix', partial, '--no-audit', '--no-fund', '--loglevel=error', `pm2@${PM2_VERSION}`], { cwd: partial, timeout: 300_000 });
    rmSync(target, { recursive: true, force: true });
    renameSync(partial, target);
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  return installed(target)!;
}

let located: Promise<Pm2Cli | string> | undefined;

/** The pm2 to run, or why there is none; looked for (and installed) once per bench run. */
function locate(): Promise<Pm2Cli | string> {
  located ??= (async () => {
    const found = installed(cacheDir()) ?? onPath();
    if (found !== undefined) return found;
    try {
      return await install();
    } catch (error) {
      return `pm2 is missing: put pm2 ${PM2_VERSION} on PATH (a global npm install of pm2@${PM2_VERSION}), or let the bench install it; installing it into ${CACHE_LABEL} failed: ${errorText(error)}`;
    }
  })();
  return located;
}

export async function pm2Unavailable(): Promise<string | null> {
  const found = await locate();
  return typeof found === 'string' ? found : null;
}

function ecosystem(services: readonly ServiceSpec[]): string {
  const apps = services.map((s) => ({
    name: s.label,
    script: s.argv[0],
    args: s.argv.slice(1),
    interpreter: 'none',
    exec_mode: 'fork',
    autorestart: true,
    restart_delay: 0,
    max_restarts: 1000,
    watch: false,
  }));
  return `${JSON.stringify({ apps }, null, 2)}\n`;
}

export async function startPm2(services: readonly ServiceSpec[], dir: string): Promise<RunningSupervisor> {
  const cli = await locate();
  if (typeof cli === 'string') throw new Error(cli);
  const home = join(dir, 'pm2-home');
  mkdirSync(home, { recursive: true });
  // Without this file, pm2's first command in a PM2_HOME prints a banner and asks pm2's server
  // for the newest version; the daemon asks again daily unless PM2_DISABLE_VERSION_CHECK is set.
  writeFileSync(join(home, 'touch'), `${Date.now()}`);
  const env = { ...process.env, PM2_HOME: home, PM2_DISABLE_VERSION_CHECK: 'true' };
  const pm2 = (...args: string[]): Promise<unknown> => run(process.execPath, [cli.script, ...args], { env, timeout: 120_000 });
  const file = join(dir, 'ecosystem.json');
  writeFileSync(file, ecosystem(services));
  const godPid = (): number => (existsSync(join(home, 'pm2.pid')) ? Number(readFileSync(join(home, 'pm2.pid'), 'utf8').trim()) : Number.NaN);
  const kill = (): void => {
    const pid = godPid();
    if (Number.isInteger(pid) && alive(pid)) process.kill(pid, 'SIGKILL');
  };
  const stop = async (): Promise<void> => {
    await pm2('kill').catch(() => undefined);
    const pid = godPid();
    if (Number.isInteger(pid) && !(await waitUntil(() => !alive(pid), 50, Date.now() + 10_000))) kill();
  };
  try {
    await pm2('start', file);
    const pid = godPid();
    if (!Number.isInteger(pid) || !alive(pid)) throw new Error('no God daemon after pm2 start');
    return { name: 'pm2', version: cli.version, roots: [pid], stop, kill };
  } catch (error) {
    await stop();
    throw new Error(`pm2 start failed: ${errorText(error)}`);
  }
}
