// Attacks 1-4 of the hostile-user scenario: the attacker's links in a state directory, a state
// directory she controls, her crontab swapped in for root's, and her crontab given to root.
// Each returns what went wrong, judged by outcome only (owner, mode and content of root's
// files, what was created, the uid her job ran as); an empty list means the attack failed.
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { Instance } from '../helpers/detached.js';
import { hasExited } from '../helpers/daemon.js';
import { runAs, type TestUser } from '../helpers/users.js';
import { changed, created, FAKE_SOCKET, INOTIFY_RACE, ledgerLines, PYTHON, snapshot, startAs, type World } from './hostile-user-world.js';
import { waitUntil } from '../helpers/wait.js';
import { commandLine } from '../../src/runner/index.js';

export interface AttackContext {
  world: World;
  attacker: TestUser;
  random: () => number;
}

/** The names schedd keeps in a state directory, and the temporary ones it writes beside them. */
export const STATE_NAMES = ['schedd.log', 'schedd.pid', 'history.db', 'history.db-wal', 'history.db-shm', 'reboot-boot-id', 'schedd.sock', 'schedd.pid.tmp', 'reboot-boot-id.tmp'];

const IDLE_CRONTAB = '# schedd: name=idle\n0 0 1 1 * true\n';

/** How long the attacker races her swaps against root's reloads. */
const BURST_MS = 4000;

/** A crontab root wrote: root's, 0644 whatever the umask. */
export function rootFile(path: string, text: string): string {
  writeFileSync(path, text);
  chmodSync(path, 0o644);
  return path;
}

/** `ln -sfn aim name` for each pair, as the attacker, in `dir`. */
async function plantLinks(attacker: TestUser, dir: string, links: [string, string][]): Promise<void> {
  const script = links.map(([name, aim]) => `ln -sfn '${aim}' '${name}'`).join(' && ');
  const planted = await runAs(attacker, 'sh', ['-c', script], { cwd: dir });
  if (planted.code !== 0) throw new Error(`${attacker.name} could not plant links in ${dir}: ${planted.stderr}`);
}

/** `count` different names of `names`, in a seeded order. */
function pick<T>(random: () => number, names: readonly T[], count: number): T[] {
  const pool = [...names];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

function schedulerPids(s: Instance): number[] {
  return s.processes().filter((pid) => commandLine(pid)?.includes('__scheduler') === true);
}

/**
 * 1. With `--user`, the attacker owns the scheduler and (today) the state directory: she links
 * some of schedd's names to root 0600 files and kills the scheduler; the watchdog's restart
 * must not chown, chmod or write any of them.
 */
export async function symlinkChown({ world, attacker, random }: AttackContext): Promise<string[]> {
  const s = new Instance();
  try {
    // The scheduler reads the crontab after dropping to the attacker; its job shows it is up.
    chmodSync(s.dir, 0o755);
    const ticks = world.ledger('user-ticks');
    rootFile(s.path('crontab'), `# schedd: name=tick\n* * * * * * echo tick >> ${ticks}\n`);
    const start = await s.start(['--user', attacker.name]);
    if (start.code !== 0) throw new Error(`setup: schedd start --user ${attacker.name} failed: ${JSON.stringify(start)}`);
    // Found in /proc, not asked over the socket: root need not trust a socket she serves.
    const schedulerPid = await waitUntil('the scheduler', () => schedulerPids(s)[0]);
    const names = pick(random, STATE_NAMES, 4);
    const targets = names.map((name) => snapshot(world.target(name)));
    try {
      await plantLinks(attacker, s.stateDir, names.map((name, i) => [name, targets[i]!.path]));
    } catch {
      // Not hers to write (a fixed daemon keeps the directory root's): the attack ends here.
      return [];
    }
    const killed = await runAs(attacker, 'kill', ['-9', String(schedulerPid)]);
    // If she cannot kill it, a crash does: the restart must be just as careful.
    if (killed.code !== 0) process.kill(schedulerPid, 'SIGKILL');
    await waitUntil(`scheduler ${schedulerPid} to die`, () => hasExited(schedulerPid));
    const ticksAtKill = ledgerLines(ticks).length;
    // The restart has done its damage once the new scheduler fires its job or has given up. A
    // watchdog that never restarts it leaves nothing to judge but the files: no deadline error.
    let next = 0;
    await waitUntil('a restarted scheduler to fire or exit', () => {
      if (next === 0) next = schedulerPids(s).find((pid) => pid !== schedulerPid) ?? 0;
      if (next === 0) return s.processes().length === 0;
      return hasExited(next) || ledgerLines(ticks).length > ticksAtKill;
    }, 15_000).catch(() => undefined);
    const problems: string[] = [];
    for (const [i, target] of targets.entries()) {
      const change = changed(target);
      if (change !== null) problems.push(`${names[i]} -> ${change}`);
    }
    return problems;
  } finally {
    await s.cleanup();
  }
}

/**
 * 2. Root given a state directory the attacker made (`owned`), or a link to one (`link`), full
 * of her links: it must refuse to start and write nothing through them. `socket`: her fake
 * control socket must never be read as the daemon's reply.
 */
export async function foreignStateDir({ world, attacker }: AttackContext, variant: string): Promise<string[]> {
  if (variant === 'socket') return fakeSocket(world, attacker);
  const s = new Instance();
  try {
    chmodSync(s.dir, 0o755);
    // @reboot makes the daemon record the boot id (through reboot-boot-id.tmp).
    rootFile(s.path('crontab'), `@reboot true\n${IDLE_CRONTAB}`);
    let dir = s.stateDir;
    if (variant === 'link') {
      dir = join(world.dropbox, `state-${readdirSync(world.dropbox).length}`);
      symlinkSync(dir, s.stateDir);
    }
    const made = await runAs(attacker, 'mkdir', ['-m', '0755', dir]);
    if (made.code !== 0) {
      mkdirSync(dir, { mode: 0o755 });
      chownSync(dir, attacker.uid, attacker.gid);
    }
    const written = ['schedd.log', 'schedd.pid.tmp', 'reboot-boot-id', 'reboot-boot-id.tmp', 'schedd.pid'].map((name) => ({ name, before: snapshot(world.target(name)) }));
    const absent = ['history.db', 'history.db-wal', 'history.db-shm'].map((name) => ({ name, aim: world.nothing(name) }));
    await plantLinks(attacker, dir, [...written.map(({ name, before }): [string, string] => [name, before.path]), ...absent.map(({ name, aim }): [string, string] => [name, aim])]);
    const problems: string[] = [];
    const start = await s.start();
    if (start.code === 0) problems.push(`schedd start accepted a state directory owned by uid ${attacker.uid} (${variant})`);
    // Whatever it started is stopped first: a stop writes too.
    await s.cleanup();
    for (const { name, before } of written) {
      const change = changed(before);
      if (change !== null) problems.push(`${name} -> ${change}`);
    }
    for (const { name, aim } of absent) {
      const made = created(aim);
      if (made !== null) problems.push(`${name} -> ${made}`);
    }
    return problems;
  } finally {
    await s.cleanup();
  }
}

async function fakeSocket(world: World, attacker: TestUser): Promise<string[]> {
  const dir = join(world.dropbox, `sock-${readdirSync(world.dropbox).length}`);
  const made = await runAs(attacker, 'mkdir', ['-m', '0700', dir]);
  if (made.code !== 0) throw new Error(`setup: ${attacker.name} could not mkdir ${dir}: ${made.stderr}`);
  const mark = `FAKE-${Date.now()}-${attacker.uid}`;
  const reply = JSON.stringify({ ok: true, result: { pid: 4242, schedulerPid: 4242, startedAt: new Date().toISOString(), crontab: mark, stateDir: mark, jobs: 7, running: [], restarts: 0, lastReload: null } });
  const server = await startAs(attacker, PYTHON, ['-c', FAKE_SOCKET, join(dir, 'schedd.sock'), reply], 'listening');
  try {
    const problems: string[] = [];
    for (const args of [['status'], ['status', '--json']]) {
      const result = await runCli([...args, '--state-dir', dir]);
      if (result.stdout.includes(mark) || result.stderr.includes(mark)) problems.push(`schedd ${args.join(' ')} as root printed ${attacker.name}'s fake reply (exit ${result.code})`);
    }
    return problems;
  } finally {
    server.kill('SIGKILL');
  }
}

/** Uids her job reported in `ledger` that are root's. */
function rootRuns(ledger: string): number {
  return ledgerLines(ledger).filter((line) => line.trim() === '0').length;
}

/** Waits (with a deadline: nothing happening is the good outcome) for a line in `ledger`. */
async function anyLine(ledger: string, timeoutMs: number): Promise<void> {
  await waitUntil('a line', () => ledgerLines(ledger).length > 0, timeoutMs).catch(() => undefined);
}

/**
 * 3. Root's crontab in a folder the attacker can write: she puts her file (a job `id -u`) in
 * its place and, timed by inotify, swaps root's back for the moment between the daemon's read
 * and its check (see INOTIFY_RACE), while root reloads now and then (SIGHUP). Her job must
 * never run as uid 0. `system`: with --system (a user column), `plain`: without.
 */
export async function crontabSwap({ world, attacker, random }: AttackContext, variant: string): Promise<string[]> {
  const system = variant === 'system';
  const folder = join(world.folder('swap'), 'cron.d');
  mkdirSync(folder, { mode: 0o755 });
  chownSync(folder, attacker.uid, attacker.gid);
  const ledger = world.ledger('swap');
  const rootText = `# schedd: name=rootjob\n0 0 1 1 *${system ? ' root' : ''} true\n`;
  const rootCrontab = rootFile(join(folder, 'root'), rootText);
  const herFile = join(folder, 'hers');
  writeFileSync(herFile, `# schedd: name=evil\n* * * * * *${system ? ' root' : ''} id -u >> ${ledger}\n`, { mode: 0o644 });
  chownSync(herFile, attacker.uid, attacker.gid);
  const s = new Instance();
  try {
    const start = await s.cli(['start', '-c', rootCrontab, '--state-dir', s.stateDir, ...(system ? ['--system'] : [])]);
    // A daemon that refuses such a crontab cannot be raced.
    if (start.code !== 0) return [];
    const watchdog = s.pidfile()!;
    const racer = await startAs(attacker, PYTHON, ['-c', INOTIFY_RACE, herFile, rootCrontab, ledger], 'racing');
    try {
      // Her own swaps make the daemon reload; root reloads now and then too.
      const burstEnds = Date.now() + BURST_MS;
      while (Date.now() < burstEnds && ledgerLines(ledger).length === 0) {
        process.kill(watchdog, 'SIGHUP');
        await new Promise((resolve) => setTimeout(resolve, 50 + random() * 400));
      }
    } finally {
      racer.kill('SIGKILL');
    }
    // Her job fires every second once it is in the schedule.
    await anyLine(ledger, 2500);
    const runs = rootRuns(ledger);
    return runs > 0 ? [`${attacker.name}'s job ran as uid 0 (${runs} time${runs === 1 ? '' : 's'}) after swapping her crontab in (${variant})`] : [];
  } finally {
    await s.cleanup();
  }
}

/**
 * 4. A crontab the attacker owns (`owned`), or root's but group- (`group`) or world-writable
 * (`world`), into which she writes a job: given to a root daemon, none of it runs as uid 0.
 */
export async function foreignCrontab({ world, attacker }: AttackContext, variant: string): Promise<string[]> {
  const folder = world.folder('crontab');
  const ledger = world.ledger('crontab');
  const file = rootFile(join(folder, 'crontab'), IDLE_CRONTAB);
  if (variant === 'owned') chownSync(file, attacker.uid, attacker.gid);
  if (variant === 'group') chownSync(file, 0, attacker.gid);
  chmodSync(file, variant === 'owned' ? 0o644 : variant === 'group' ? 0o664 : 0o666);
  const wrote = await runAs(attacker, 'sh', ['-c', `printf '# schedd: name=evil\\n* * * * * * id -u >> ${ledger}\\n' >> ${file}`]);
  if (wrote.code !== 0) throw new Error(`setup: ${attacker.name} could not write ${file}: ${wrote.stderr}`);
  const s = new Instance();
  try {
    const start = await s.cli(['start', '-c', file, '--state-dir', s.stateDir]);
    if (start.code !== 0) return [];
    await s.cli(['run', 'evil', '--state-dir', s.stateDir]);
    await anyLine(ledger, 3000);
    const runs = rootRuns(ledger);
    return runs > 0 ? [`a job of a crontab ${variant === 'owned' ? `owned by ${attacker.name}` : `${variant}-writable`} ran as uid 0 (${runs} time${runs === 1 ? '' : 's'})`] : [];
  } finally {
    await s.cleanup();
  }
}
