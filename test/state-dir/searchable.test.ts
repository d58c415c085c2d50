// A root daemon with --cron makes its state directory searchable (0711) for crontab.sock: others
// may then open any file in it by name, so none but the pidfile may be open to them.
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { prepareStateDir } from '../../src/state-dir/check.js';
import { tempDir } from '../helpers/cli.js';

describe('a searchable state directory (crontab.sock)', () => {
  const tmp = tempDir('schedd-searchable-');
  after(() => tmp.cleanup());
  let n = 0;
  const stateDir = (): string => {
    const dir = join(tmp.dir, `state-${++n}`);
    mkdirSync(dir, { mode: 0o700 });
    return dir;
  };

  it('is made 0711 when searchable, and back to 0700 when not', () => {
    const dir = stateDir();
    prepareStateDir(dir, { create: false, searchable: true });
    assert.equal(lstatSync(dir).mode & 0o7777, 0o711);
    prepareStateDir(dir, { create: false });
    assert.equal(lstatSync(dir).mode & 0o7777, 0o700);
  });

  it('keeps the pidfile readable by others, and refuses any other file they could open', () => {
    const dir = stateDir();
    writeFileSync(join(dir, 'schedd.pid'), '42\n', { mode: 0o644 });
    writeFileSync(join(dir, 'schedd.log'), '', { mode: 0o640 });
    chmodSync(join(dir, 'schedd.pid'), 0o644);
    prepareStateDir(dir, { create: false, searchable: true });
    writeFileSync(join(dir, 'history.db'), '');
    chmodSync(join(dir, 'history.db'), 0o644);
    assert.throws(() => prepareStateDir(dir, { create: false, searchable: true }), {
      message: `state directory ${dir}: ${join(dir, 'history.db')} is open to others (mode 644) in a directory they may search (expected no access for others: chmod o-rwx it)`,
    });
    // Not searchable, nobody else gets in: the old rule.
    prepareStateDir(dir, { create: false });
  });
});
