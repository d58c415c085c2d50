import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { waitUntil } from '../common.js';
import { alive } from '../proc.js';
import { shellWord, type RunningSupervisor, type ServiceSpec } from './service-types.js';

/**
 * Debian's supervisord (package `supervisor`), our own instance: `supervisord -n` on a config in
 * the bench's temporary directory, with its socket, pidfile and logs there too, so the system's
 * supervisor service (if installed) is neither used nor touched. The pid we spawn is the Python
 * process itself (the script's interpreter, exec'd), and SIGTERM to it stops every program.
 *
 * Each program: `autorestart=true` (restart whatever the exit), `startsecs=0` (a process that
 * runs at all has started, so a crash is an exit and never a failed start that would back off),
 * `startretries` high for the same reason. There is no restart delay to set: supervisord restarts
 * an exited program on the next pass of its main loop, whose poll waits up to one second.
 */

const BINARY = 'supervisord';

function findBinary(): string | undefined {
  return (process.env.PATH ?? '/usr/bin:/bin')
    .split(delimiter)
    .concat(['/usr/bin', '/usr/local/bin'])
    .map((dir) => join(dir, BINARY))
    .find((file) => existsSync(file));
}

export function supervisordUnavailable(): string | null {
  if (findBinary() !== undefined) return null;
  return 'supervisord is not installed (Debian/Ubuntu: apt-get install supervisor, then systemctl disable --now supervisor: the bench runs its own); its column is skipped';
}

export function supervisordConfig(services: readonly ServiceSpec[], dir: string): string {
  const lines = [
    '[unix_http_server]',
    `file=${join(dir, 'supervisor.sock')}`,
    '[supervisord]',
    'nodaemon=true',
    `logfile=${join(dir, 'supervisord.log')}`,
    `pidfile=${join(dir, 'supervisord.pid')}`,
    `childlogdir=${join(dir, 'logs')}`,
    ...(process.getuid?.() === 0 ? ['user=root'] : []), // says so, instead of a CRIT line at start
    '[rpcinterface:supervisor]',
    'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
    '[supervisorctl]',
    `serverurl=unix://${join(dir, 'supervisor.sock')}`,
  ];
  for (const s of services) {
    // `%` would start one of supervisord's own expansions.
    lines.push(`[program:${s.label}]`, `command=${s.argv.map(shellWord).join(' ').replace(/%/g, '%%')}`, 'autostart=true', 'autorestart=true', 'startsecs=0', 'startretries=1000', 'stopsignal=TERM', 'stopwaitsecs=10');
  }
  return `${lines.join('\n')}\n`;
}

export async function startSupervisord(services: readonly ServiceSpec[], dir: string): Promise<RunningSupervisor> {
  const binary = findBinary();
  if (binary === undefined) throw new Error(supervisordUnavailable()!);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const config = join(dir, 'supervisord.conf');
  writeFileSync(config, supervisordConfig(services, dir));
  const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  const child = spawn(binary, ['-n', '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    // It waits up to stopwaitsecs for each program, in parallel; then SIGKILL.
    const done = await waitUntil(() => child.exitCode !== null || child.signalCode !== null, 50, Date.now() + 30_000);
    if (!done) child.kill('SIGKILL');
    await exited;
  };
  // Running once its socket exists (the programs are started right after).
  const up = await waitUntil(() => existsSync(join(dir, 'supervisor.sock')) || child.exitCode !== null, 20, Date.now() + 30_000);
  if (!up || child.exitCode !== null || !alive(child.pid!)) {
    await stop();
    throw new Error(`supervisord did not start: ${stderr.trim().split('\n').at(-1) ?? `exit ${child.exitCode}`}`);
  }
  return { name: 'supervisord', version, roots: [child.pid!], stop, kill: () => void child.kill('SIGKILL') };
}
