import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { Account } from '../../src/accounts.js';
import { mergeJobSets } from '../../src/sources/merge.js';
import type { JobSource } from '../../src/sources/types.js';
import { validateJobSet, type ValidateOptions } from '../../src/sources/validate.js';
import { TempFiles } from '../helpers/cli.js';

const tmp = new TempFiles('schedd-validate-');
after(() => rmSync(tmp.dir, { recursive: true, force: true }));
mkdirSync(tmp.path('sub'));
writeFileSync(tmp.path('plain-file'), '');

const source = (options: Partial<JobSource> = {}): JobSource => ({ id: '', path: tmp.path('crontab'), name: 'crontab', system: false, ...options });
const deploy: Account = { name: 'deploy', uid: 1001, gid: 1001, home: '/home/deploy', shell: '/bin/sh' };

/** As root, with `deploy` the only account on the machine; the lookups made are counted. */
function asRoot(): ValidateOptions & { looked: string[] } {
  const looked: string[] = [];
  return { root: true, looked, lookup: (name) => (looked.push(name), name === 'deploy' ? deploy : null) };
}

describe('validateJobSet', () => {
  it("skips a system table's entries of an unknown user, as cron does, with the line and column of the user; refuses an unknown user=", () => {
    const options = asRoot();
    const set = validateJobSet('0 1 * * * deploy backup\n0 2 * * * ghost steal\n0 3 * * * ghost again\n', source({ system: true }), options);
    assert.deepEqual(set.errors, []);
    assert.deepEqual(set.warnings, ["crontab:2:11: warning: unknown user 'ghost': entry skipped until the user exists", "crontab:3:11: warning: unknown user 'ghost': entry skipped until the user exists"]);
    assert.deepEqual(set.entries.map((entry) => entry.line), [1]);
    assert.equal(set.waiting, true);
    assert.deepEqual([...set.accounts], [['deploy', deploy]]);
    assert.deepEqual(options.looked, ['deploy', 'ghost'], 'one lookup per name');
    // The user= option has no column of its own: the entry's line, column 1.
    const option = validateJobSet('# schedd: user=ghost\n@daily steal\n', source(), asRoot());
    assert.deepEqual(option.errors, ["crontab:2:1: unknown user 'ghost' (expected an account on this machine)"]);
  });

  it('uses the accounts already known before looking a user up', () => {
    const options = asRoot();
    const set = validateJobSet('# schedd: user=deploy\n@daily backup\n', source(), { ...options, knownAccounts: new Map([['deploy', deploy]]) });
    assert.deepEqual([set.errorCount, options.looked, [...set.accounts.keys()]], [0, [], ['deploy']]);
  });

  it('refuses jobs for another user when not root, and allows our own name', () => {
    const set = validateJobSet('# schedd: user=alice\n@daily a\n# schedd: user=bob\n@daily b\n', source(), { root: false, selfName: 'alice', lookup: () => assert.fail('no lookup when not root') });
    assert.deepEqual(set.errors, ["crontab:4:1: cannot run jobs as 'bob': schedd is not running as root (expected no user, or start schedd as root)"]);
  });

  it('resolves a relative cwd against the file\'s folder, and warns (never refuses) when it is missing or not a directory', () => {
    const text = '# schedd: name=rel cwd=sub\n@daily a\n# schedd: name=gone cwd=gone\n@daily b\n# schedd: name=file cwd=plain-file\n@daily c\n# schedd: name=abs cwd=/\n@daily d\n';
    const set = validateJobSet(text, source(), asRoot());
    assert.deepEqual(
      set.entries.map((e) => [e.id, e.options.cwd]),
      [['rel', tmp.path('sub')], ['gone', tmp.path('gone')], ['file', tmp.path('plain-file')], ['abs', '/']],
    );
    assert.deepEqual(set.warnings, [
      `crontab:4:1: warning: cwd ${tmp.path('gone')} does not exist (runs fail to start until it does)`,
      `crontab:6:1: warning: cwd ${tmp.path('plain-file')} is not a directory (runs fail to start until it is one)`,
    ]);
    assert.deepEqual([set.errorCount, set.warningCount, set.problems.every((p) => p.machine)], [0, 2, true]);
  });

  it('lists the parser\'s problems and its own in file order, and counts them apart', () => {
    const set = validateJobSet('61 * * * * bad\n# schedd: cwd=gone\n@daily x\n0 0 */2 * sun y\n', source(), asRoot());
    assert.deepEqual(
      set.problems.map((p) => [p.line, p.severity, p.machine]),
      [[1, 'error', false], [3, 'warning', true], [4, 'warning', false]],
    );
    assert.deepEqual([set.errorCount, set.warningCount, set.errors.length, set.warnings.length], [1, 2, 1, 2]);
  });

  it('keeps the main source\'s ids bare and gives another source\'s the SOURCEID: prefix', () => {
    const text = '# schedd: name=report\n@daily report\n@hourly /usr/bin/true\n';
    const main = validateJobSet(text, source(), asRoot());
    const other = validateJobSet(text, source({ id: 'etc', name: 'etc/crontab' }), asRoot());
    assert.deepEqual(main.entries.map((e) => e.id), ['report', other.entries[1]!.id.slice('etc:'.length)]);
    assert.equal(other.entries[0]!.id, 'etc:report');
    assert.match(other.entries[1]!.id, /^etc:true-[0-9a-f]{8}$/);
  });
});

describe('mergeJobSets', () => {
  it('hands one set through as it is', () => {
    const set = validateJobSet('@daily a\n', source(), asRoot());
    const merged = mergeJobSets([set]);
    assert.equal(merged.entries, set.entries);
    assert.equal(merged.errors, set.errors);
  });

  it('joins the sets of several sources, and refuses an id two sources use, saying where it was taken', () => {
    const main = validateJobSet('# schedd: name=report\n@daily report\n# schedd: user=deploy\n@daily x\n', source(), asRoot());
    const etc = validateJobSet('# schedd: name=report\n@daily report\n', source({ id: 'etc', name: 'etc/crontab' }), asRoot());
    const again = validateJobSet('@hourly pad\n# schedd: name=report\n@daily other\n', source({ id: 'etc', name: 'etc/crontab.d/x' }), asRoot());
    const merged = mergeJobSets([main, etc, again]);
    assert.match(again.entries[0]!.id, /^etc:pad-[0-9a-f]{8}$/);
    assert.deepEqual([main.entries[0]!.source, etc.entries[0]!.source], ['', 'etc'], 'each entry carries the id of its source');
    assert.deepEqual(merged.entries.map((e) => e.id), ['report', main.entries[1]!.id, 'etc:report', again.entries[0]!.id]);
    assert.deepEqual(merged.errors, ["etc/crontab.d/x:3:1: job id 'etc:report' is already used by etc/crontab:2 (expected ids unique across job sources)"]);
    assert.equal(merged.errorCount, 1);
    assert.deepEqual([...merged.accounts.keys()], ['deploy']);
  });

  it('counts every source\'s errors', () => {
    const merged = mergeJobSets([validateJobSet('61 * * * * a\n', source(), asRoot()), validateJobSet('* * * * 9 b\n', source({ id: 'etc', name: 'etc/crontab' }), asRoot())]);
    assert.deepEqual(merged.errors, ["crontab:1:1: invalid minute '61' (expected 0-59)", "etc/crontab:1:9: invalid day-of-week '9' (expected 0-7 or a name sun-sat)"]);
    assert.equal(merged.errorCount, 2);
  });
});
