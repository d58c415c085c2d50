import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';

/**
 * The tables Debian's packages really ship, downloaded (`apt-get download`) and unpacked
 * (`dpkg-deb -x`) into a cron root: no hand-copied fixtures. Without apt (or its lists) the
 * test is skipped, except in CI, where .ci/run has run `apt-get update`.
 */

/** Packages that ship /etc/crontab (cron-daemon-common, bookworm's split of cron) or /etc/cron.d files. */
const PACKAGES = ['cron-daemon-common', 'sysstat', 'e2fsprogs', 'php-common', 'certbot', 'anacron', 'mdadm', 'atop'];

let root = '';
let why: string | false = false;
const work = mkdtempSync(join(tmpdir(), 'schedd-debian-'));
after(() => rmSync(work, { recursive: true, force: true }));

before(() => {
  try {
    execFileSync('apt-get', ['download', ...PACKAGES], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  } catch (error) {
    why = `apt-get download failed: ${(error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message}`;
    if (process.env.CI) throw new Error(why);
    return;
  }
  root = join(work, 'root');
  for (const deb of readdirSync(work).filter((name) => name.endsWith('.deb'))) execFileSync('dpkg-deb', ['-x', join(work, deb), root]);
});

describe("Debian's own cron tables", () => {
  it('every table is accepted, every non-table name skipped, and list --cron --json shows the next runs', async (t) => {
    if (why !== false) return t.skip(why);
    const check = await runCli(['check', '--cron', '--cron-root', root]);
    assert.equal(check.code, 0, check.stderr);
    const tables = ['etc/crontab', 'etc/cron.d/anacron', 'etc/cron.d/atop', 'etc/cron.d/certbot', 'etc/cron.d/e2scrub_all', 'etc/cron.d/mdadm', 'etc/cron.d/php', 'etc/cron.d/sysstat'];
    assert.deepEqual(
      check.stdout.split('\n').filter((line) => line.includes(': ok,')).map((line) => line.slice(root.length + 1, line.indexOf(': ok,'))),
      tables,
    );
    assert.equal(check.stderr, '');
    const list = await runCli(['list', '--cron', '--cron-root', root, '--all', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { jobs: { id: string; table: string; next: string | null; user?: string }[]; skipped: { path: string }[]; refused: unknown[] };
    assert.deepEqual(listed.refused, []);
    // cron-daemon-common's .placeholder is not a table.
    assert.deepEqual(listed.skipped.map((file) => file.path.slice(root.length + 1)), ['etc/cron.d/.placeholder']);
    assert.deepEqual([...new Set(listed.jobs.map((job) => job.table))], ['crontab', 'cron.d/anacron', 'cron.d/atop', 'cron.d/certbot', 'cron.d/e2scrub_all', 'cron.d/mdadm', 'cron.d/php', 'cron.d/sysstat']);
    for (const job of listed.jobs) {
      assert.ok(job.next !== null && !Number.isNaN(Date.parse(job.next)), `${job.id} has a next run`);
      assert.equal(job.user, 'root');
    }
  });
});
