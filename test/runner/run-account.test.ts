import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { startRun } from '../../src/runner/index.js';
import { lookupAccount } from '../../src/daemon/privileges.js';
import { spec } from './helpers.js';

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
