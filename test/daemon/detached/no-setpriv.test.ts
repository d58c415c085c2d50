// Issue 11 item 8: without setpriv (util-linux), a job for a user with supplementary groups is
// refused rather than run without them. setpriv is hidden for real, in a private mount namespace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { cliEnv, cliPath, collect } from '../../helpers/cli.js';
import { cleanupAll, instance, type Instance } from '../../helpers/detached.js';
import { ensureUser, needsRoot } from '../../helpers/users.js';

after(cleanupAll);

/** `schedd ARGS` with /usr/bin/setpriv (and so /bin/setpriv, /bin being a link or a copy) hidden. */
function withoutSetpriv(s: Instance, args: readonly string[]): ReturnType<typeof collect> {
  const hide = 'for p in /usr/bin/setpriv /bin/setpriv; do [ -e "$p" ] && mount --bind /dev/null "$p"; done; exec "$@"';
  const env = cliEnv({ HOME: s.dir, SCHEDD_TEST_MARK: s.mark, NODE_TEST_CONTEXT: undefined });
  return collect(spawn('unshare', ['--mount', 'sh', '-c', hide, 'sh', process.execPath, cliPath, ...args], { cwd: s.dir, env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

describe('jobs for other users without setpriv', { skip: needsRoot }, () => {
  it('regression (issue 11 item 8): a user with supplementary groups gets outcome error with the reason; one without runs with exact ids', async (t) => {
    const alice = ensureUser('sdtalice', { groups: ['sdtgroup'] });
    const carol = ensureUser('sdtcarol');
    const s = instance(t);
    s.write('crontab', `# schedd: name=alice user=${alice.name}\n* * * * * * id -G\n# schedd: name=carol user=${carol.name}\n* * * * * * id -u; id -G\n`);
    const started = await withoutSetpriv(s, ['start', '-c', s.crontabPath, '--state-dir', s.stateDir]);
    assert.equal(started.code, 0, JSON.stringify(started));
    const refused = await s.waitForLog({ msg: 'job could not start', job: 'alice' });
    assert.deepEqual([refused.record.outcome, refused.record.reason], ['error', `cannot run as ${alice.name} with their supplementary groups: setpriv (util-linux) is not installed`]);
    const ran = await s.waitForLog({ msg: 'job finished', job: 'carol' });
    assert.deepEqual(s.all({ msg: 'job output', run: ran.record.run }).map((r) => r.line), [String(carol.uid), String(carol.gid)]);
    const history = await s.cli(['history', 'alice', '--json', '--state-dir', s.stateDir]);
    const runs = JSON.parse(history.stdout) as { outcome: string; reason?: string }[];
    assert.deepEqual([runs[0]?.outcome, runs[0]?.reason], ['error', refused.record.reason]);
    assert.equal((await s.stop()).code, 0);
  });
});
