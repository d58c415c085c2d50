// Attacks 5-7 of the hostile-user scenario: a descriptor of the starter's shell reaching jobs,
// the instance lock squatted before root starts, and job output that attacks a terminal.
// Each returns what went wrong, judged by outcome only; an empty list means the attack failed.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cliEnv, cliPath } from '../helpers/cli.js';
import { Instance } from '../helpers/detached.js';
import { rootFile, type AttackContext } from './hostile-user-files.js';
import { answers, ledgerLines, PYTHON, rawControl, spawnCli, SQUAT, startAs } from './hostile-user-world.js';
import { waitUntil } from '../helpers/wait.js';

/** A daemon started from a shell holding fd 50 on a root-only file, with its probe jobs. */
export interface Fd50Daemon {
  mode: 'detached' | 'foreground';
  instance: Instance;
  /** Probe job -> its ledger (see fdProbe). */
  probes: Map<string, string>;
}

/**
 * 5. Each probe job (one run as root, one as the attacker) reports whether fd 50 of the
 * starter's shell reached it and what it read through it.
 */
export async function inheritedFd(ctx: AttackContext, daemons: readonly Fd50Daemon[]): Promise<string[]> {
  const problems: string[] = [];
  const runs: { daemon: Fd50Daemon; job: string; ledger: string; seen: number }[] = [];
  for (const daemon of daemons) {
    for (const [job, ledger] of daemon.probes) {
      const seen = ledgerLines(ledger).length;
      const run = await daemon.instance.cli(['run', job, '--state-dir', daemon.instance.stateDir]);
      if (run.code !== 0) throw new Error(`setup: schedd run ${job} (${daemon.mode}): ${JSON.stringify(run)}`);
      runs.push({ daemon, job, ledger, seen });
    }
  }
  for (const { daemon, job, ledger, seen } of runs) {
    const line = await waitUntil(`${job} (${daemon.mode}) to report`, () => ledgerLines(ledger)[seen], 15_000);
    const [, uid, fds, fd50, read] = /^(\d+) fds=(\S*) fd50=(.*) read=(.*)$/.exec(line) ?? [];
    if (uid === undefined) {
      problems.push(`${job} (${daemon.mode}): unreadable report ${JSON.stringify(line)}`);
      continue;
    }
    const who = uid === '0' ? 'root' : `uid ${uid}`;
    if (fd50 !== 'none') problems.push(`fd 50 of the starter's shell reached a job run as ${who} (${daemon.mode}): -> ${fd50}`);
    if (read!.includes(ctx.world.secretText)) problems.push(`a job run as ${who} (${daemon.mode}) read the root-only file through fd 50`);
    const extra = fds!.split(',').filter((fd) => !['0', '1', '2', '50'].includes(fd));
    if (extra.length > 0) problems.push(`a job run as ${who} (${daemon.mode}) holds descriptors beyond 0, 1, 2: ${extra.join(', ')}`);
  }
  return problems;
}

/** The abstract names today's lock takes for a state directory, and a few other guesses. */
export function lockGuesses(stateDir: string): string[] {
  const digest = (text: string): string => createHash('sha256').update(text).digest('hex');
  const names = new Set<string>();
  for (const dir of [stateDir, `${stateDir}/`]) {
    for (const role of ['scheduler', 'watchdog']) {
      names.add(`schedd-${role}-${digest(dir).slice(0, 40)}`);
      names.add(`schedd-${role}-${digest(dir)}`);
    }
    names.add(`schedd-${digest(dir).slice(0, 40)}`);
  }
  names.add('schedd-scheduler');
  names.add('schedd-watchdog');
  return [...names];
}

/** 6. The attacker binds the lock names before root starts (`detached` or `foreground`): root's daemon must start. */
export async function lockSquat({ attacker }: AttackContext, variant: string): Promise<string[]> {
  const s = new Instance();
  rootFile(s.crontabPath, '# schedd: name=idle\n0 0 1 1 * true\n');
  const squatter = await startAs(attacker, PYTHON, ['-c', SQUAT, ...lockGuesses(s.stateDir)], 'bound');
  try {
    if (variant === 'detached') {
      const start = await s.start();
      if (start.code !== 0) return [`schedd start failed while ${attacker.name} held the lock names: ${(start.stderr || start.stdout).split('\n')[0]}`];
      return (await answers(s, null, 5000)) ? [] : ['schedd start said it started, but the daemon does not answer'];
    }
    const child = spawnCli(s, ['start', '--foreground', '--json-logs', '-c', s.crontabPath, '--state-dir', s.stateDir]);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.resume();
    const up = await answers(s, child);
    if (!up) return [`schedd start --foreground did not come up while ${attacker.name} held the lock names (exit ${child.exitCode}): ${stderr.split('\n')[0]}`];
    return [];
  } finally {
    squatter.kill('SIGKILL');
    await s.cleanup();
  }
}

/** What the escape job prints: a title, a screen clear, a forged record behind a CR, C1 CSI. */
export const ESCAPE_COMMAND = (ledger: string): string =>
  `printf '\\033]0;pwned\\007\\033[2Jfake\\rschedd: job finished\\n\\302\\233c\\n'; printf '\\033[5mblink\\033[0m\\r\\n' >&2; echo "$SCHEDD_RUN_ID"; echo "$SCHEDD_RUN_ID" >> ${ledger}; exit 3`;

/** A foreground daemon whose log goes to a terminal (a pty from `script`), with the escape job. */
export interface TerminalDaemon {
  instance: Instance;
  ledger: string;
  /** Everything the daemon has written to its terminal so far. */
  screen(): string;
}

export function startOnTerminal(instance: Instance, ledger: string): TerminalDaemon {
  const command = [process.execPath, cliPath, 'start', '--foreground', '-c', instance.crontabPath, '--state-dir', instance.stateDir].map((arg) => `'${arg}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: instance.dir, env: cliEnv({ HOME: instance.dir, SCHEDD_TEST_MARK: instance.mark, NODE_TEST_CONTEXT: undefined }), stdio: ['ignore', 'pipe', 'pipe'] });
  let screen = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (screen += chunk));
  child.stderr.resume();
  // script(1) is util-linux's; without it the setup fails saying so.
  child.on('error', (error) => (screen += `\ncannot run script(1): ${error.message}\n`));
  return { instance, ledger, screen: () => screen };
}

/**
 * What a terminal would act on: schedd's own colours (SGR, `ESC[...m`) and the pty's CR before
 * each LF are its own doing, so they are taken out first (the job's SGR goes with them).
 */
function rawOnTerminal(text: string): string | null {
  return rawControl(text.replace(/\u001b\[[0-9;]*m/gu, '').replace(/\r\n/gu, '\n'));
}

/** Starts the escape job and resolves with its run id once the run has ended. */
async function runEscape(s: Instance, job: string, ledger: string): Promise<string> {
  const seen = ledgerLines(ledger).length;
  const run = await s.cli(['run', job, '--state-dir', s.stateDir]);
  if (run.code !== 0) throw new Error(`setup: schedd run ${job}: ${JSON.stringify(run)}`);
  return waitUntil(`${job} to run`, () => ledgerLines(ledger)[seen], 15_000);
}

/**
 * 7. A run of the escape job, then every view of it for people (`logs`, `output`, `status`,
 * `history` of the detached daemon; the foreground log on a terminal): none may carry a raw
 * control byte (tab and the newlines between records excepted).
 */
export async function terminalEscapes(daemon: { instance: Instance; job: string; ledger: string }, terminal: TerminalDaemon): Promise<string[]> {
  const { instance: s, job, ledger } = daemon;
  const from = terminal.screen().length;
  const [runId, terminalRunId] = await Promise.all([runEscape(s, job, ledger), runEscape(terminal.instance, job, terminal.ledger)]);
  // The output is captured once the run has ended; its id is in it.
  await waitUntil(`the output of ${runId}`, async () => (await s.cli(['output', job, '--run', runId, '--state-dir', s.stateDir])).stdout.includes(runId), 15_000);
  await waitUntil(`the log to show ${runId}`, async () => (await s.cli(['logs', '-n', '200', '--state-dir', s.stateDir])).stdout.includes(runId), 15_000);
  await waitUntil(`the terminal to show ${terminalRunId}`, () => terminal.screen().slice(from).includes(terminalRunId), 15_000);
  const views: Record<string, string[]> = {
    logs: ['logs', '-n', '200'],
    'logs --job': ['logs', '--job', job, '-n', '50'],
    output: ['output', job],
    status: ['status'],
    history: ['history', job],
  };
  const problems: string[] = [];
  for (const name of Object.keys(views)) {
    const result = await s.cli([...views[name]!, '--state-dir', s.stateDir]);
    const raw = rawControl(result.stdout) ?? rawControl(result.stderr);
    if (raw !== null) problems.push(`schedd ${name} printed ${raw}`);
  }
  const onTerminal = rawOnTerminal(terminal.screen().slice(from));
  if (onTerminal !== null) problems.push(`schedd start --foreground wrote to its terminal ${onTerminal}`);
  return problems;
}
