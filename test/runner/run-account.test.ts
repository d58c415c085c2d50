import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { startRun } from '../../src/runner/index.js';
import { lookupAccount } from '../../src/accounts.js';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spec, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;

describe('startRun: running a job as another user', () => {
  it('sets uid, gid and the supplementary groups of the user, gated or not', { skip: isRoot ? false : 'needs root' }, async () => {
    const account = lookupAccount('nobody');
    assert.ok(account, 'the nobody account exists');
    const expected = execFileSync('id', ['-G', 'nobody'], { encoding: 'utf8' }).trim();
    for (const gated of [false, true]) {
      const lines: string[] = [];
      const handle = startRun(spec({ command: 'id -u; id -g; id -G', account: { name: 'nobody', uid: account.uid, gid: account.gid }, gated }), { onLine: (_s, line) => lines.push(line) });
      handle.release();
      const result = await handle.done;
      assert.equal(result.outcome, 'ok');
      assert.deepEqual(lines, [String(account.uid), String(account.gid), expected], gated ? 'gated' : 'not gated');
    }
  });
});

describe('startRun: the working directory of a job run as another user', () => {
  it("regression (issue 11 item 4): a job's cwd is entered as its user, so a link into root's 0700 directory does not let her in", { skip: isRoot ? false : 'needs root' }, async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const closed = join(dir, 'closed');
    mkdirSync(join(closed, 'inner'), { recursive: true, mode: 0o700 });
    chmodSync(join(closed, 'inner'), 0o755);
    writeFileSync(join(closed, 'inner', 'secret.txt'), 'root secret\n');
    chmodSync(join(closed, 'inner', 'secret.txt'), 0o644);
    const account = lookupAccount('nobody')!;
    const lines: string[] = [];
    const handle = startRun(spec({ command: 'cat secret.txt; pwd', cwd: join(closed, 'inner'), account: { name: 'nobody', uid: account.uid, gid: account.gid } }), { onLine: (_s, line) => lines.push(line) });
    const result = await handle.done;
    assert.deepEqual([result.outcome, result.exitCode], ['failed', 126]);
    assert.equal(lines.some((line) => line.includes('root secret')), false, lines.join('\n'));
    // The same job in a directory the user may enter runs there.
    const open = join(dir, 'open');
    mkdirSync(open, { mode: 0o755 });
    const ok: string[] = [];
    const second = await startRun(spec({ command: 'pwd', cwd: open, account: { name: 'nobody', uid: account.uid, gid: account.gid } }), { onLine: (_s, line) => ok.push(line) }).done;
    assert.deepEqual([second.outcome, ok], ['ok', [open]]);
  });
});
