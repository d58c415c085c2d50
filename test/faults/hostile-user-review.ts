// Attacks 8-12 of the hostile-user scenario, the five a security review found after the first
// round of fixes: root's edit of a crontab in her directory, a crontab reached through her
// link, a pid she names for root's stop, root's `logs -f` following her link, and a job's cwd
// behind root's 0700 directory. Each returns what went wrong, judged by outcome only (root's
// files, root's processes, what root printed, what a job read); an empty list means it failed.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Instance } from '../helpers/detached.js';
import { hasExited } from '../helpers/daemon.js';
import { runAs, type TestUser } from '../helpers/users.js';
import { rootFile, type AttackContext } from './hostile-user-files.js';
import { changed, FAKE_SOCKET, ledgerLines, PYTHON, snapshot, spawnCli, startAs, type World } from './hostile-user-world.js';
import { waitUntil } from '../helpers/wait.js';
import { commandLine } from '../../src/runner/index.js';

const IDLE_CRONTAB = '# schedd: name=idle\n0 0 1 1 * true\n';
const NEVER = '0 0 1 1 *'; // started by `schedd run` only

/** A fresh name for a file or folder of one round. */
function fresh(name: string): string {
  return `${name}-${randomUUID().slice(0, 8)}`;
}

/** A shell script as the attacker; a failure is a broken setup, not a failed attack. */
async function asAttacker(attacker: TestUser, script: string, what: string): Promise<void> {
  const result = await runAs(attacker, 'sh', ['-c', script]);
  if (result.code !== 0) throw new Error(`setup: ${attacker.name} could not ${what}: ${result.stderr.trim()}`);
}

/** A root-only (0700) folder in the vault, like /etc/schedd, holding a root 0600 `crontab`. */
function rootOnlyCrontabDir(world: World, text: string): { dir: string; crontab: string } {
  const dir = join(world.vault, fresh('etc'));
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  const crontab = join(dir, 'crontab');
  writeFileSync(crontab, text, { mode: 0o600 });
  chmodSync(crontab, 0o600);
  return { dir, crontab };
}

/** Uids in a ledger that are root's. */
function rootRuns(ledger: string): number {
  return ledgerLines(ledger).filter((line) => line.trim() === '0').length;
}

function times(n: number): string {
  return `${n} time${n === 1 ? '' : 's'}`;
}

/**
 * 8. Root runs `schedd edit -c` on the attacker's crontab, in a folder of hers. While root's
 * editor is open (a script that waits for her), she puts a link to a root-only folder holding
 * a `crontab` where her folder was (`dir-mv`: her folder moved aside, `dir-rm`: removed) or
 * where her file was (`file-link`); then root saves. Root's file must keep its content, owner
 * and mode, and the edit must not report an install.
 */
export async function rootEdit({ world, attacker }: AttackContext, variant: string): Promise<string[]> {
  const hers = join(world.dropbox, fresh('edit'));
  await asAttacker(attacker, `mkdir -m 0755 '${hers}' && printf '# schedd: name=mine\\n0 0 1 1 * true\\n' > '${hers}/crontab'`, `make ${hers}`);
  const roots = rootOnlyCrontabDir(world, `# schedd: name=backup\n0 3 * * * true\n`);
  const before = snapshot(roots.crontab);
  const s = new Instance();
  try {
    const ready = s.path('editor-ready');
    const go = s.path('editor-go');
    // Root's editor: says it is open, waits (10 s at most) for her swap, then saves a job.
    const editor = s.write('editor.sh', `#!/bin/sh\ntouch '${ready}'\ni=0\nwhile [ ! -e '${go}' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done\nprintf '# schedd: name=evil\\n* * * * * id -u\\n' >> "$1"\n`);
    chmodSync(editor, 0o755);
    let ended = false;
    const edit = s.cli(['edit', '-c', join(hers, 'crontab')], { EDITOR: editor, VISUAL: editor }).finally(() => (ended = true));
    const opened = await waitUntil('root\'s editor to open or the edit to end', () => (existsSync(ready) ? 'opened' : ended ? 'ended' : false), 15_000);
    if (opened === 'opened') {
      const swap =
        variant === 'dir-mv'
          ? `mv '${hers}' '${hers}.old' && ln -s '${roots.dir}' '${hers}'`
          : variant === 'dir-rm'
            ? `rm -rf '${hers}' && ln -s '${roots.dir}' '${hers}'`
            : `ln -sfn '${roots.crontab}' '${hers}/crontab'`;
      await asAttacker(attacker, swap, `swap ${hers} (${variant})`);
      writeFileSync(go, '');
    }
    const result = await edit;
    const problems: string[] = [];
    const change = changed(before);
    if (change !== null) problems.push(`root's schedd edit of ${attacker.name}'s crontab wrote root's file through her link (${variant}): ${change}`);
    if (result.code === 0 && result.stdout.includes('installed')) problems.push(`root's schedd edit installed a crontab in a folder ${attacker.name} controls (${variant}): ${result.stdout.trim()}`);
    return problems;
  } finally {
    await s.cleanup();
  }
}

/**
 * 9. Root's crontab path passes through a link in the attacker's folder that aims at a root
 * file of her choosing (root 0600, a per-second job writing `id -u`): `chained`, root's link to
 * her link to the file; `dir-link`, her link to a root-only folder and `crontab` in it;
 * `direct`, her link itself. `check` and `start` must refuse it and no job of it may run as
 * uid 0.
 */
export async function linkedCrontab({ world, attacker }: AttackContext, variant: string): Promise<string[]> {
  const ledger = world.ledger('linked');
  const chosen = rootOnlyCrontabDir(world, `# schedd: name=chosen\n* * * * * * id -u >> ${ledger}\n`);
  const herLink = join(world.dropbox, fresh('link'));
  await asAttacker(attacker, `ln -s '${variant === 'dir-link' ? chosen.dir : chosen.crontab}' '${herLink}'`, `link ${herLink}`);
  const s = new Instance();
  try {
    let path = herLink;
    if (variant === 'chained') {
      path = s.path('crontab-link');
      symlinkSync(herLink, path);
    } else if (variant === 'dir-link') {
      symlinkSync(herLink, s.path('etc'));
      path = s.path('etc/crontab');
    }
    const problems: string[] = [];
    const check = await s.cli(['check', path]);
    if (check.code === 0) problems.push(`root's schedd check accepted a crontab reached through ${attacker.name}'s link (${variant})`);
    const start = await s.cli(['start', '-c', path, '--state-dir', s.stateDir]);
    if (start.code === 0) {
      problems.push(`root's schedd start accepted a crontab reached through ${attacker.name}'s link (${variant})`);
      await s.cli(['run', 'chosen', '--state-dir', s.stateDir]);
      await waitUntil('a line', () => ledgerLines(ledger).length > 0, 2500).catch(() => undefined);
    }
    const runs = rootRuns(ledger);
    if (runs > 0) problems.push(`the job of the root file ${attacker.name}'s link chose ran as uid 0 (${times(runs)}, ${variant})`);
    return problems;
  } finally {
    await s.cleanup();
  }
}

/** A root process whose command line says schedd, and how it ended (null while it runs). */
interface Victim {
  pid: number;
  alive(): boolean;
  ended(): string | null;
  stop(): Promise<void>;
}

async function sleeperVictim(): Promise<Victim> {
  const child: ChildProcess = spawn('bash', ['-c', 'exec -a schedd-victim sleep 60'], { stdio: 'ignore' });
  let ended: string | null = null;
  child.once('exit', (code, signal) => (ended = signal ?? `exit ${code}`));
  await waitUntil('the victim to run', () => commandLine(child.pid!)?.[0]?.startsWith('schedd-victim') === true);
  return { pid: child.pid!, alive: () => ended === null, ended: () => ended, stop: async () => void child.kill('SIGKILL') };
}

/** Root's own detached daemon: its watchdog is the victim. */
async function daemonVictim(): Promise<Victim> {
  const v = new Instance();
  rootFile(v.crontabPath, IDLE_CRONTAB);
  const start = await v.start();
  const pid = v.pidfile();
  if (start.code !== 0 || pid === null) throw new Error(`setup: root's victim daemon did not start: ${JSON.stringify(start)}`);
  return { pid, alive: () => !hasExited(pid), ended: () => (hasExited(pid) ? 'exited' : null), stop: () => v.cleanup() };
}

/**
 * 10. The `--user` account writes the pid of a root process whose command line contains
 * "schedd" (`sleeper`: `exec -a schedd-victim sleep`; `daemon`: the watchdog of root's own
 * daemon) into schedd.pid and removes schedd.sock (`socket`: and serves her own, whose stop
 * reply names that pid). Root's `schedd stop` must not signal that process.
 */
export async function pidfileVictim({ attacker }: AttackContext, variant: string): Promise<string[]> {
  const s = new Instance();
  let victim: Victim | null = null;
  let server: ChildProcess | null = null;
  try {
    chmodSync(s.dir, 0o755);
    rootFile(s.crontabPath, IDLE_CRONTAB);
    const start = await s.start(['--user', attacker.name]);
    if (start.code !== 0) throw new Error(`setup: schedd start --user ${attacker.name} failed: ${JSON.stringify(start)}`);
    victim = variant === 'daemon' ? await daemonVictim() : await sleeperVictim();
    await asAttacker(attacker, `cd '${s.stateDir}' && rm -f schedd.sock && echo ${victim.pid} > pid.new && mv -f pid.new schedd.pid`, 'rewrite her pidfile');
    if (variant === 'socket') {
      const reply = JSON.stringify({ ok: true, result: { pid: victim.pid, schedulerPid: victim.pid } });
      server = await startAs(attacker, PYTHON, ['-c', FAKE_SOCKET, s.socketPath, reply], 'listening');
    }
    const stop = await s.stop(['--timeout', '1s']);
    // A SIGTERM is delivered at once; a moment for the victim to act on it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (victim.alive()) return [];
    return [`root's schedd stop (exit ${stop.code}) signalled root's process ${victim.pid} named in ${attacker.name}'s pidfile (${variant}): it ended (${victim.ended()})`];
  } finally {
    server?.kill('SIGKILL');
    await victim?.stop();
    await s.cleanup();
  }
}

/**
 * 11. Root follows a `--user` state directory's log (`schedd logs -f`); the attacker rotates it
 * (`mv`: moved aside, `rm`: removed) and plants a link to a root-only secret as the new
 * schedd.log. `daemon`: the state directory of her running --user daemon, rotated with mv; the
 * others a state directory made for her as `start --user` makes it. The secret must never
 * appear in what root's `logs -f` prints.
 */
export async function followedLog({ world, attacker }: AttackContext, variant: string): Promise<string[]> {
  // Lines, as a root-only file has (the follower prints complete lines only).
  const secretText = `LOG-SECRET-${randomUUID()}`;
  const secret = world.target('log-secret', `${secretText}\nroot:x:0:0\n`);
  const s = new Instance();
  let follower: ReturnType<typeof spawnCli> | null = null;
  try {
    chmodSync(s.dir, 0o755);
    if (variant === 'daemon') {
      rootFile(s.crontabPath, IDLE_CRONTAB);
      const start = await s.start(['--user', attacker.name]);
      if (start.code !== 0) throw new Error(`setup: schedd start --user ${attacker.name} failed: ${JSON.stringify(start)}`);
    } else {
      mkdirSync(s.stateDir, { mode: 0o700 });
      chmodSync(s.stateDir, 0o700);
      chownSync(s.stateDir, attacker.uid, attacker.gid);
      await asAttacker(attacker, `echo '{"level":30,"time":"${new Date().toISOString()}","msg":"first"}' > '${s.logPath}'`, 'write her log');
    }
    const child = spawnCli(s, ['logs', '-f', '--state-dir', s.stateDir]);
    follower = child;
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
    await waitUntil('root\'s logs -f to print the log', () => {
      if (exited()) throw new Error(`setup: root's schedd logs -f exited ${child.exitCode} before the rotation: ${err.trim()}`);
      return out.length > 0;
    }, 15_000);
    const rotate = variant === 'rm' ? `rm schedd.log` : `mv schedd.log schedd.log.1`;
    await asAttacker(attacker, `cd '${s.stateDir}' && ${rotate} && ln -s '${secret}' schedd.log${variant === 'rm' ? '' : ' && echo more >> schedd.log.1'}`, `rotate her log (${variant})`);
    // The follower looks for a new file at least every 250 ms: it has had eight chances.
    await waitUntil('root\'s logs -f to leave', exited, 2000).catch(() => undefined);
    return out.includes(secretText) || err.includes(secretText) ? [`root's schedd logs -f printed the root-only secret through ${attacker.name}'s link (${variant})`] : [];
  } finally {
    follower?.kill('SIGKILL');
    await s.cleanup();
  }
}

/**
 * 12. A root crontab's job `user=<the attacker> cwd=<a folder behind root's 0700 folder>` that
 * reads secret.txt there (`direct`: that folder; `link`: her link to it). The secret must never
 * reach the job's output (the history's) or her ledger.
 */
export async function cwdBehindRoot({ world, attacker }: AttackContext, variant: string): Promise<string[]> {
  const folder = world.folder('cwd');
  const closed = join(folder, 'closed');
  const inner = join(closed, 'inner');
  mkdirSync(inner, { recursive: true });
  chmodSync(closed, 0o700);
  chmodSync(inner, 0o755);
  const secretText = `CWD-SECRET-${randomUUID()}`;
  writeFileSync(join(inner, 'secret.txt'), `${secretText}\n`);
  chmodSync(join(inner, 'secret.txt'), 0o644);
  let cwd = inner;
  if (variant === 'link') {
    cwd = join(world.dropbox, fresh('cwd-link'));
    await asAttacker(attacker, `ln -s '${inner}' '${cwd}'`, `link ${cwd}`);
  }
  const ledger = world.ledger('cwd');
  const s = new Instance();
  try {
    rootFile(s.crontabPath, `# schedd: name=peek user=${attacker.name} cwd=${cwd}\n${NEVER} cat secret.txt; cat secret.txt >> ${ledger}\n`);
    const start = await s.start();
    if (start.code !== 0) throw new Error(`setup: root's daemon with the cwd job did not start: ${JSON.stringify(start)}`);
    const run = await s.cli(['run', 'peek', '--state-dir', s.stateDir]);
    if (run.code !== 0) throw new Error(`setup: schedd run peek: ${JSON.stringify(run)}`);
    await waitUntil('the run of peek to end', async () => {
      const history = await s.cli(['history', 'peek', '--json', '--state-dir', s.stateDir]);
      if (history.code !== 0) return false;
      const runs = JSON.parse(history.stdout) as { outcome?: string }[];
      return runs.length > 0 && runs.every((r) => r.outcome !== 'running');
    }, 15_000);
    const output = await s.cli(['output', 'peek', '--raw', '--state-dir', s.stateDir]);
    const problems: string[] = [];
    if (output.stdout.includes(secretText)) problems.push(`a job run as ${attacker.name} with its cwd behind root's 0700 folder printed the secret to its output (${variant})`);
    if (ledgerLines(ledger).some((line) => line.includes(secretText))) problems.push(`a job run as ${attacker.name} with its cwd behind root's 0700 folder wrote the secret to her ledger (${variant})`);
    return problems;
  } finally {
    await s.cleanup();
  }
}
