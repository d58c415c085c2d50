// The scheduler's priority: raised when allowed, never its jobs'. Real processes, real nice values.
import assert from 'node:assert/strict';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cliPath } from '../helpers/cli.js';
import { killAllDaemons, workspace } from '../helpers/daemon.js';
import { ensureUser, isRoot, needsRoot, spawnAs } from '../helpers/users.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

/** The nice field (19th) of a /proc/PID/stat line; the command name may hold spaces. */
function niceOfStat(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

const niceOf = (pid: number): number => niceOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));

// Each job reports the nice value of its own command (cat) and of its shell.
const REPORT = 'cat /proc/self/stat; cat /proc/$$/stat';

describe('scheduler priority', { concurrency: true }, () => {
  it('as root: the scheduler runs 10 nice levels up, every job (prepared, jittered, another user\'s) at the nice schedd started with', { skip: isRoot ? false : 'needs root' }, async (t) => {
    const ws = workspace(t);
    const others = needsRoot === false ? [`# schedd: name=theirs user=${ensureUser('sdtnice').name} cwd=/\n* * * * * * ${REPORT}`] : [];
    ws.write('crontab', [`# schedd: name=prepared\n* * * * * * ${REPORT}`, `# schedd: name=jittered jitter=1ms\n* * * * * * ${REPORT}`, ...others, ''].join('\n'));
    const daemon = ws.start({ args: ['--log-level', 'debug'] });
    const started = getPriority();
    const raised = await daemon.waitFor((r) => r.msg.startsWith('scheduler priority raised'));
    assert.equal(raised.msg, `scheduler priority raised: the scheduler at nice ${Math.max(-20, started - 10)}, jobs at nice ${started}`);
    for (const job of ['prepared', 'jittered', ...(others.length > 0 ? ['theirs'] : [])]) {
      const finished = await daemon.waitFor({ msg: 'job finished', job });
      const lines = daemon.all({ msg: 'job output', run: finished.run });
      assert.equal(lines.length, 2, JSON.stringify(lines));
      assert.deepEqual(lines.map((r) => niceOfStat(r.line!)), [started, started], `${job}: ${JSON.stringify(lines)}`);
    }
    assert.equal(niceOf(daemon.pid), Math.max(-20, started - 10));
  });

  it('as another user: nothing is raised, nothing fails, jobs run at the nice schedd started with', { skip: needsRoot }, async () => {
    const user = ensureUser('sdtnice');
    const dir = mkdtempSync(join('/tmp', 'schedd-nice-'));
    try {
      chownSync(dir, user.uid, user.gid);
      writeFileSync(join(dir, 'crontab'), `# schedd: name=mine\n* * * * * * ${REPORT}\n`);
      chownSync(join(dir, 'crontab'), user.uid, user.gid);
      const child = spawnAs(user, process.execPath, [cliPath, 'start', '--foreground', '--json-logs', '--log-level', 'debug', '-c', join(dir, 'crontab'), '--state-dir', join(dir, 'state')], { cwd: dir });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      const records = (): { msg: string; line?: string; job?: string }[] => stdout.split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)); // whole lines only
      try {
        // A run's output comes before its `job finished` record: wait for both.
        await waitUntil('two output lines and a finished run', () => records().filter((r) => r.msg === 'job output').length >= 2 && records().some((r) => r.msg === 'job finished'), 15_000);
        const started = getPriority();
        assert.ok(records().some((r) => r.msg === `scheduler priority not raised: the scheduler and jobs at nice ${started}`), stdout);
        assert.equal(niceOf(child.pid!), started);
        const lines = records().filter((r) => r.msg === 'job output').slice(0, 2);
        assert.deepEqual(lines.map((r) => niceOfStat(r.line!)), [started, started]);
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('close', resolve));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
