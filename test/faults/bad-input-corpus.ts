// Generated crontabs for the bad-input scenario: realistic fragments (fields, macros, option,
// environment and comment lines, commands with %), combined and then mutated byte by byte. A
// seeded generator rather than fast-check: 100,000 files must be cheap, and any one of them is
// rebuilt from (seed, index) alone when a failure names it.

import { seededRandom } from './crash-helpers.js';

/** The suite's seeded PRNG (mulberry32), under the name this file's generators use. */
export const rng = seededRandom;

type Rand = () => number;

const int = (rand: Rand, n: number): number => Math.floor(rand() * n);
const pick = <T>(rand: Rand, items: readonly T[]): T => items[int(rand, items.length)]!;

/** Valid values per position: second, minute, hour, day-of-month, month, day-of-week. */
const SECONDS_OK = ['*', '0', '5', '30', '59', '*/5', '*/15', '0-29', '0,30', '*/2,5'];
const FIELDS_OK: readonly (readonly string[])[] = [
  ['*', '*', '0', '5', '30', '59', '*/5', '*/15', '0-29', '0,30', '*/2,5'],
  ['*', '*', '0', '12', '23', '9-17', '*/2', '0-23/6', '1,13'],
  ['*', '*', '1', '15', '31', '1-15', '*/2', 'L', 'LW', '15W', '1,15', '1-31/2'],
  ['*', '*', '1', '12', 'jan', 'dec', 'jan-jun', '*/3', 'JAN,jul'],
  ['*', '*', '0', '7', 'mon-fri', 'MON', 'sun', '1-5', 'fri#2', '5L', 'sat#5', '0-7'],
];
const FIELDS_BAD = ['60', '24', '32', '13', '8', '-1', '5-1', '*/0', '/5', 'mon-', ',', '1,,2', ',5', '5,', 'foo', 'janx', '99999999999999999999', '1-', '*/', '0x10', '1.5', '?', '**', 'L5', '32W', '0W', '#', 'fri#6', 'fri#0', 'W', 'L-3', '*-5', '1-5/0', '5/2', 'mon#2,1', '١', '５', '*/5/5', '--', 'sun-sat', 'L,1', '1#2'];
const MACROS = ['@daily', '@hourly', '@weekly', '@monthly', '@yearly', '@annually', '@midnight', '@reboot', '@nope', '@', '@DAILY', '@every', '@@daily'];
const COMMANDS = [
  'echo hi',
  '/usr/local/bin/backup --all > /dev/null 2>&1',
  'cd /srv/app && make report',
  'echo 100\\% done',
  'mail -s "cron report" root%Dear root,%all is well%',
  'date +\\%Y-\\%m-\\%d >> /var/log/dates',
  'printf "%s\\n" a',
  'true',
  'sh -c \'echo "nested $HOME"\'',
  'echo ✓ ünïcödé',
  '[ -x /usr/sbin/anacron ] || run-parts /etc/cron.daily',
  'echo \\',
  'backup',
  '   ',
  '%only stdin',
];
const OPTION_PAIRS_OK = ['name=backup', 'name=job-1', 'name=a.b_c', 'timeout=5s', 'timeout=30m', 'timeout=1h30m', 'timeout=500ms', 'jitter=0', 'jitter=10s', 'overlap=skip', 'overlap=allow', 'overlap=queue', 'overlap=replace', 'catchup=none', 'catchup=once', 'catchup=all', 'retries=0', 'retries=3', 'retries=100', 'tz=Europe/London', 'tz=UTC', 'tz=America/New_York', 'cwd=/srv', 'cwd="/path with spaces"', 'cwd=relative/dir', 'user=www-data', 'user=root'];
const OPTION_PAIRS_BAD = ['name=', 'name', 'name=a/b', 'name="spaced name"', 'timeout=0', 'timeout=5', 'timeout=-5s', 'timeout=5x', 'timeout=1h30', 'jitter=soon', 'overlap=never', 'overlap=', 'catchup=some', 'retries=101', 'retries=-1', 'retries=1e3', 'retries=99999999999999999999999', 'tz=Mars/Olympus', 'tz=', 'user=1root', 'user="a b"', 'cwd="unterminated', 'bogus=1', '=x', '==', 'name="x', '"', 'name="a"b', 'timeout=999999999999999999d'];
const ENV_LINES = ['SHELL=/bin/bash', 'SHELL=/bin/nonexistent', 'MAILTO=""', 'MAILTO=ops@example.com', 'PATH=/usr/local/bin:/usr/bin:/bin', 'CRON_TZ=Europe/London', 'CRON_TZ=UTC', 'CRON_TZ=Mars/Olympus', 'CRON_TZ=', 'A = "b c"', "'Q'='x'", 'X=', 'LANG=C.UTF-8', ' HOME = /root ', 'TZ=Asia/Kolkata', '"A"="B"', 'A=\'unbalanced'];
const COMMENTS = ['# m h dom mon dow command', '#', '   # indented comment', '#schedd: name=nospace', '# SCHEDD: name=upper', '## double', '# schedd', '#\tschedd:\tname=tabbed', '# schedd:'];
const BLANKS = ['', '   ', '\t', ' \t '];
const SPACES = [' ', ' ', ' ', '  ', '\t', ' \t'];
const NOISE = ['\0', '\r', '\t', '\n', '%', '\\', '"', "'", '#', '@', '=', ',', '-', '/', '*', 'L', 'W', '#', ' ', '\u00a0', '\u2028', '\ufeff', '\ud800', '😀', 'é', '9', '0', ':', '$', '`', '\x1b[31m'];

/** A field for position `index` of 5 (of 6 with seconds): mostly valid there, sometimes not. */
function field(rand: Rand, index: number, count: number): string {
  if (rand() < 0.04) return pick(rand, FIELDS_BAD);
  if (count === 6 && index === 0) return pick(rand, SECONDS_OK);
  const position = count === 6 ? index - 1 : index;
  // Out of place: a month name in the hour field and the like.
  if (rand() < 0.02 || position < 0 || position > 4) return pick(rand, pick(rand, FIELDS_OK));
  return pick(rand, FIELDS_OK[position]!);
}

function entry(rand: Rand): string {
  const lead = rand() < 0.1 ? pick(rand, SPACES) : '';
  const sep = (): string => (rand() < 0.9 ? ' ' : pick(rand, SPACES));
  // The last two commands are blank or only stdin: errors.
  const command = rand() < 0.04 ? pick(rand, COMMANDS.slice(-2)) : pick(rand, COMMANDS.slice(0, -2));
  const roll = rand();
  if (roll < 0.15) return `${lead}${rand() < 0.9 ? pick(rand, MACROS.slice(0, 8)) : pick(rand, MACROS)}${sep()}${command}`;
  // Mostly five fields; six (seconds), and the wrong counts now and then.
  const count = roll < 0.7 ? 5 : roll < 0.9 ? 6 : pick(rand, [0, 1, 2, 3, 4, 7]);
  const fields = Array.from({ length: count }, (_, i) => field(rand, i, count));
  const user = rand() < 0.1 ? `${sep()}${pick(rand, ['root', 'www-data', '1bad', 'nobody$'])}` : '';
  return `${lead}${fields.join(sep())}${user}${count === 0 && rand() < 0.5 ? '' : sep()}${command}`;
}

function optionLine(rand: Rand): string {
  const count = 1 + int(rand, 3);
  const pairs = Array.from({ length: count }, () => (rand() < 0.93 ? pick(rand, OPTION_PAIRS_OK) : pick(rand, OPTION_PAIRS_BAD)));
  // Mostly one value per key, as people write them; a repeated key now and then.
  if (rand() < 0.9) pairs.splice(0, pairs.length, ...new Map(pairs.map((pair) => [pair.split('=')[0], pair])).values());
  return `${pick(rand, ['# schedd: ', '# schedd:', '#schedd: ', '  # schedd:  '])}${pairs.join(rand() < 0.9 ? ' ' : '  ')}`;
}

function line(rand: Rand): string {
  const roll = rand();
  if (roll < 0.5) return entry(rand);
  if (roll < 0.53) return optionLine(rand); // usually orphaned: an error
  if (roll < 0.68) return pick(rand, ENV_LINES);
  if (roll < 0.85) return pick(rand, COMMENTS);
  return pick(rand, BLANKS);
}

/** One realistic crontab: comments, environment, entries with their option lines above them. */
function base(rand: Rand): string {
  const count = int(rand, 14);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    // Options are usually directly above an entry, as they should be.
    if (rand() < 0.3) lines.push(optionLine(rand), entry(rand));
    else lines.push(line(rand));
  }
  const eol = rand() < 0.05 ? '\r\n' : '\n';
  const text = lines.join(eol);
  return rand() < 0.9 && lines.length > 0 ? text + eol : text;
}

function mutate(rand: Rand, text: string): string {
  const at = int(rand, text.length + 1);
  switch (int(rand, 8)) {
    case 0: // insert noise
      return text.slice(0, at) + pick(rand, NOISE) + text.slice(at);
    case 1: // delete a few characters
      return text.slice(0, at) + text.slice(at + 1 + int(rand, 4));
    case 2: { // duplicate a span
      const end = Math.min(text.length, at + int(rand, 40));
      return text.slice(0, end) + text.slice(at, end) + text.slice(end);
    }
    case 3: { // swap two lines
      const lines = text.split('\n');
      const i = int(rand, lines.length);
      const j = int(rand, lines.length);
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join('\n');
    }
    case 4: // truncate anywhere (often mid-line, no final newline)
      return text.slice(0, at);
    case 5: // a random code point, control characters included
      return text.slice(0, at) + String.fromCodePoint(int(rand, 0x2ffff)).replace(/[\ud800-\udfff]/, '?') + text.slice(at);
    case 6: // replace a character with a digit or a field separator
      return text.slice(0, at) + pick(rand, ['0', '9', ' ', ',', '-', '/', '*', '\n']) + text.slice(at + 1);
    default: // splice in another fragment line
      return text.slice(0, at) + line(rand) + '\n' + text.slice(at);
  }
}

/** Files that stress size rather than shape: long lines, many lines, long lists, stacked options. */
function pathological(rand: Rand): string {
  switch (int(rand, 6)) {
    case 0:
      return `* * * * * echo ${'x'.repeat(100_000 + int(rand, 50_000))}\n`;
    case 1:
      return Array.from({ length: 3000 }, () => entry(rand)).join('\n') + '\n';
    case 2:
      return `${Array.from({ length: 5000 }, (_, i) => i % 60).join(',')} * * * * echo list\n`;
    case 3:
      return `${Array.from({ length: 500 }, () => optionLine(rand)).join('\n')}\n* * * * * echo stacked\n`;
    case 4:
      return `${'*/1,'.repeat(4000)}* * * * * echo\n${'\t'.repeat(20_000)}@daily x\n`;
    default:
      return `# schedd: ${'name=x '.repeat(3000)}\n* * * * * echo many\n${'A=b\n'.repeat(2000)}`;
  }
}

/** The crontab number `index` of the corpus for `seed`. */
export function generateCrontab(seed: number, index: number): string {
  const rand = rng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  if (index % 1000 === 999) return pathological(rand);
  let text = base(rand);
  const roll = rand();
  const mutations = roll < 0.5 ? 0 : roll < 0.8 ? 1 : 1 + int(rand, 6);
  for (let i = 0; i < mutations; i++) text = mutate(rand, text);
  return text;
}
