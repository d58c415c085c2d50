import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { derivedId } from '../../src/crontab/job-id.js';
import { programName } from '../../src/crontab/program-name.js';
import { shellTokens } from '../../src/crontab/shell-words.js';

/**
 * Issue 15: derived ids name the program a command runs. The commands are the one-line
 * commands of Debian bookworm's packaged tables (cron-daemon-common's /etc/crontab, and the
 * /etc/cron.d files of sysstat, e2fsprogs, certbot, php-common, anacron and mdadm), as root's.
 */

const DEBIAN: [string, string][] = [
  ['command -v debian-sa1 > /dev/null && debian-sa1 1 1', 'debian-sa1-4a37302f'],
  ['command -v debian-sa1 > /dev/null && debian-sa1 60 2', 'debian-sa1-3bac50bf'],
  ['test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_all_cron', 'e2scrub_all_cron-c623d013'],
  ['test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r', 'e2scrub_all-1e212b0e'],
  ["test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew --no-random-sleep-on-renew", 'certbot-4b4ed590'],
  ['[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi', 'sessionclean-366214fc'],
  ['cd / && run-parts --report /etc/cron.hourly', 'run-parts-cron-hourly-5f2eb95e'],
  ['test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }', 'run-parts-cron-daily-e576a36b'],
  ['test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.weekly; }', 'run-parts-cron-weekly-5024be13'],
  ['test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.monthly; }', 'run-parts-cron-monthly-ebe20bf1'],
  ['[ -x /etc/init.d/anacron ] && if [ ! -d /run/systemd/system ]; then /usr/sbin/invoke-rc.d anacron start >/dev/null; fi', 'invoke-rc-d-anacron-afd1512f'],
  ['if [ -x /usr/share/mdadm/checkarray ] && [ $(date +%d) -le 7 ]; then /usr/share/mdadm/checkarray --cron --all --idle --quiet; fi', 'checkarray-42a657bd'],
];

describe('derived ids of Debian tables (issue 15)', () => {
  for (const [command, id] of DEBIAN) {
    it(`${id}: ${command}`, () => assert.equal(derivedId(command, null, 'root'), id));
  }

  it('keeps the hash of user, command and input: only the slug changed (sysstat was command-4a37302f, mdadm if-42a657bd)', () => {
    assert.match(derivedId('command -v debian-sa1 > /dev/null && debian-sa1 1 1', null, 'root'), /-4a37302f$/);
    assert.notEqual(derivedId('x', null, 'root'), derivedId('x', null, 'alice'));
    assert.notEqual(derivedId('x', null, 'root'), derivedId('x', 'in\n', 'root'));
  });
});

describe('programName', () => {
  const cases: [string, string | null][] = [
    ['/usr/local/bin/rotate-logs.sh', 'rotate-logs.sh'],
    ['nice -n 19 ionice -c3 flock -n /var/lock/b.lock /usr/local/bin/backup --all > /var/log/b.log 2>&1 || echo failed | mail -s backup root', 'backup'],
    ["flock -n /tmp/x -c 'cd /srv/app && php artisan schedule:run >> /dev/null 2>&1'", 'artisan'],
    ['sudo -u www-data php -f /var/www/nextcloud/cron.php', 'cron.php'],
    ['pg_dump mydb | gzip > /backups/db.gz', 'pg_dump'],
    ['cat /etc/hosts | psql -f -', 'psql'],
    ['timeout 1h python3 -m certbot renew', 'certbot'],
    ["su - postgres -c 'vacuumdb --all --analyze'", 'vacuumdb'],
    ["sh -c 'exec /opt/app/bin/worker --once'", 'worker'],
    ['env -i HOME=/root LANG=C /usr/bin/updatedb', 'updatedb'],
    ['exec chronic run-one setsid nohup /opt/sync', 'sync'],
    ['(cd /srv && make report)', 'make'],
    ['/usr/bin/backup; true', 'backup'],
    ['"/opt/my tools/run me" --now', 'run me'],
    ['echo $(hostname) | logger -t cron', 'echo'],
    ['for f in /tmp/*.x; do rm "$f"; done', 'rm'],
    ['cd /tmp', null],
    ['', null],
    ['VAR=1', null],
  ];
  for (const [command, name] of cases) {
    it(JSON.stringify(command), () => assert.equal(programName(command), name));
  }

  it('shell words: quotes, substitutions kept whole, redirections and their targets dropped', () => {
    assert.deepEqual(shellTokens(`a 'b c' "d \\"e\\"" $(f "g h") 2>&1 >/dev/null < in x\\ y && z # c`), [
      { word: 'a' },
      { word: 'b c' },
      { word: 'd "e"' },
      { word: '$(f "g h")' },
      { word: 'x y' },
      { op: '&&' },
      { word: 'z' },
    ]);
  });

  it('property: any command yields an id of a slug and 8 hex digits, and never throws', () => {
    const words = fc.constantFrom('a', '/usr/bin/x', '&&', '||', ';', '|', '(', ')', '{', '}', "'", '"', '\\', '$(', '`', '>', '2>&1', 'if', 'then', 'fi', 'sh', '-c', 'flock', '-n', 'sudo', '-u', 'env', 'A=1', 'test', '[', ']', 'run-parts', 'é', '#', '\t', '.');
    const command = fc.oneof(fc.string({ maxLength: 200 }), fc.array(words, { maxLength: 20 }).map((w) => w.join(' ')));
    fc.assert(
      fc.property(command, (text) => {
        assert.match(derivedId(text, null, undefined), /^[a-z0-9][a-z0-9_-]{0,31}-[0-9a-f]{8}$/);
      }),
      { numRuns: 3000 },
    );
  });
});
