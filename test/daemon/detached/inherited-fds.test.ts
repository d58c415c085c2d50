// Issue 11 item 5: a descriptor open in the shell that ran `schedd start` must not reach jobs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { cliEnv, cliPath, collect } from '../../helpers/cli.js';
import { cleanupAll, instance, type Instance, type LogLine } from '../../helpers/detached.js';
import { ensureUser, needsRoot } from '../../helpers/users.js';

after(cleanupAll);

const INHERITED_FD = 50;
/** The job's shell lists its own descriptors (ls is its child, so ls's own do not show). */
const LIST = 'ls /proc/$$/fd; true';

function crontab(user: string): string {
  return `# schedd: name=as-root\n* * * * * * ${LIST}\n# schedd: name=as-user user=${user}\n* * * * * * ${LIST}\n`;
}

/** `schedd ARGS` with a root-only file open on fd 50, as after `exec 50</root-only` in a shell. */
function withInheritedFd(s: Instance, secret: string, args: readonly string[]): ReturnType<typeof spawn> & { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream } {
  const fd = openSync(secret, 'r');
  const stdio = ['ignore', 'pipe', 'pipe', ...Array<'ignore'>(INHERITED_FD - 3).fill('ignore'), fd] as const;
  try {
    const env = cliEnv({ HOME: s.dir, SCHEDD_TEST_MARK: s.mark, NODE_TEST_CONTEXT: undefined });
    return spawn(process.execPath, [cliPath, ...args], { cwd: s.dir, env, stdio: [...stdio] }) as never;
  } finally {
    closeSync(fd);
  }
}

/** What each job's first finished run listed, from the log records. */
function listings(records: readonly LogLine[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const job of ['as-root', 'as-user']) {
    const end = records.find((r) => r.msg === 'job finished' && r.job === job);
    if (end !== undefined) out[job] = records.filter((r) => r.msg === 'job output' && r.run === end.run).map((r) => String(r.line));
  }
  return out;
}

const ONLY_STDIO = { 'as-root': ['0', '1', '2'], 'as-user': ['0', '1', '2'] };

describe('inherited descriptors', { skip: needsRoot, concurrency: true }, () => {
  it('regression (issue 11 item 5): in the foreground, jobs (as root and as another user) see only fds 0, 1 and 2', async (t) => {
    const user = ensureUser('sdtbob');
    const s = instance(t);
    s.write('crontab', crontab(user.name));
    const secret = s.write('secret', 'root only\n');
    const child = withInheritedFd(s, secret, ['start', '--foreground', '--json-logs', '-c', s.crontabPath, '--state-dir', s.stateDir]);
    const records: LogLine[] = [];
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line !== '') records.push(JSON.parse(line) as LogLine);
    });
    const exited = collect(child as never);
    const giveUpAt = Date.now() + 15_000;
    while (Object.keys(listings(records)).length < 2 && Date.now() < giveUpAt) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGTERM');
    await exited;
    assert.deepEqual(listings(records), ONLY_STDIO);
  });

  it('regression (issue 11 item 5): detached (watchdog, scheduler), jobs see only fds 0, 1 and 2', async (t) => {
    const user = ensureUser('sdtbob');
    const s = instance(t);
    s.write('crontab', crontab(user.name));
    const secret = s.write('secret', 'root only\n');
    const started = await collect(withInheritedFd(s, secret, ['start', '-c', s.crontabPath, '--state-dir', s.stateDir]) as never);
    assert.equal(started.code, 0, JSON.stringify(started));
    await s.waitForLog({ msg: 'job finished', job: 'as-root' });
    await s.waitForLog({ msg: 'job finished', job: 'as-user' });
    assert.deepEqual(listings(s.records()), ONLY_STDIO);
    assert.equal((await s.stop()).code, 0);
  });
});
