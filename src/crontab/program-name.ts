import { shellTokens, type ShellToken } from './shell-words.js';

/**
 * The program a cron command actually runs, to name the job: Debian's tables guard the real
 * program with tests (`[ -x /usr/lib/php/sessionclean ] && if ...; then /usr/lib/php/sessionclean;
 * fi`, `command -v debian-sa1 > /dev/null && debian-sa1 1 1`), so the first word names the
 * guard. Of a `&&`/`||`/`;` list the last simple command that runs a program wins; of a pipeline
 * the first (`pg_dump db | gzip`). Keywords, conditions, `cd`, assignments, redirections and
 * wrappers (`nice -n 10`, `flock -n LOCK`, `sudo -u USER`, `timeout 1h`) are looked through;
 * `sh -c '...'` and `flock ... -c '...'` are read inside. Helpers (`echo`, `true`, `logger`,
 * `mail`, ...) name a job only when nothing else does.
 */

const KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', '!', '{', '}', 'time', 'esac', 'in']);
/** A simple command starting with one of these runs no program worth the name. */
const NOT_PROGRAMS = new Set(['[', '[[', ']]', 'test', 'cd', 'pushd', 'popd', 'export', 'set', 'umask', 'ulimit', 'source', '.', 'trap', 'unset', 'local', 'readonly', 'for', 'case', 'select', 'function', 'shopt', 'wait']);
/** Programs that name a job only when nothing else in the command does. */
const HELPERS = new Set(['echo', 'printf', 'true', 'false', ':', 'exit', 'return', 'logger', 'mail', 'mailx', 'sleep', 'date', 'cat', 'tee', 'touch', 'rm', 'mkdir']);

interface Wrapper {
  /** Options that take the next word as their value. */
  valued: readonly string[];
  /** Words before the wrapped command that are not options (timeout's duration, flock's lock file). */
  positional: number;
  /** An option whose value is itself a command (`flock ... -c 'cmd'`, `su -c 'cmd'`). */
  command?: readonly string[];
}

const WRAPPERS: Readonly<Record<string, Wrapper>> = {
  exec: { valued: ['-a'], positional: 0 },
  command: { valued: [], positional: 0 },
  builtin: { valued: [], positional: 0 },
  nice: { valued: ['-n', '--adjustment'], positional: 0 },
  ionice: { valued: ['-c', '-n', '-p', '-P', '-u', '--class', '--classdata'], positional: 0 },
  chrt: { valued: ['-T', '-P', '-D'], positional: 1 },
  taskset: { valued: [], positional: 1 },
  env: { valued: ['-u', '--unset', '-C', '--chdir'], positional: 0 },
  sudo: { valued: ['-u', '-g', '-C', '-D', '-h', '-p', '-r', '-t', '-U', '-T', '--user', '--group'], positional: 0 },
  su: { valued: ['-s', '--shell', '-g', '--group'], positional: 0, command: ['-c', '--command'] },
  runuser: { valued: ['-u', '-s', '--shell', '-g', '--group'], positional: 0, command: ['-c', '--command'] },
  timeout: { valued: ['-s', '-k', '--signal', '--kill-after'], positional: 1 },
  flock: { valued: ['-w', '-E', '--timeout', '--wait', '--conflict-exit-code'], positional: 1, command: ['-c', '--command'] },
  lckdo: { valued: ['-w'], positional: 1 },
  setlock: { valued: [], positional: 1 },
  chronic: { valued: [], positional: 0 },
  cronic: { valued: [], positional: 0 },
  'run-one': { valued: [], positional: 0 },
  nohup: { valued: [], positional: 0 },
  setsid: { valued: [], positional: 0 },
  nocache: { valued: [], positional: 0 },
  'systemd-cat': { valued: ['-t', '-p', '--identifier', '--priority', '--stderr-priority'], positional: 0 },
  'systemd-inhibit': { valued: ['--what', '--who', '--why', '--mode'], positional: 0 },
  xargs: { valued: ['-n', '-P', '-I', '-d', '-L', '-s', '-E', '-a'], positional: 0 },
};

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'busybox']);
const INTERPRETERS = new Set(['python', 'python2', 'python3', 'perl', 'php', 'ruby', 'node', 'nodejs', 'Rscript', 'lua', 'tclsh', 'awk']);
/** Programs whose first argument says which job it is: `run-parts /etc/cron.daily`. */
const DISPATCHERS = new Set(['run-parts', 'invoke-rc.d', 'service']);

function basename(word: string): string {
  const parts = word.split('/').filter((p) => p !== '');
  return parts[parts.length - 1] ?? word;
}

const isAssignment = (word: string): boolean => /^[A-Za-z_][A-Za-z0-9_]*\+?=/.test(word);

/** The first word of `words` from `at` that is not an option (`--` ends options). */
function firstArgument(words: readonly string[], at: number, valued: readonly string[] = []): number {
  for (let i = at; i < words.length; i++) {
    const word = words[i]!;
    if (word === '--') return i + 1 < words.length ? i + 1 : -1;
    if (!word.startsWith('-') || word === '-') return i;
    if (valued.includes(word)) i++;
  }
  return -1;
}

interface Found {
  name: string;
  helper: boolean;
}

function fromWords(words: readonly string[], depth: number): Found | null {
  let i = 0;
  for (;;) {
    while (i < words.length && (KEYWORDS.has(words[i]!) || isAssignment(words[i]!))) i++;
    if (i >= words.length) return null;
    const base = basename(words[i]!);
    if (NOT_PROGRAMS.has(base)) return null;
    if (base === 'command' && /^-[vV]$/.test(words[i + 1] ?? '')) return null;
    const wrapper = WRAPPERS[base];
    if (wrapper === undefined) break;
    if (wrapper.command !== undefined) {
      const option = words.findIndex((w, k) => k > i && wrapper.command!.includes(w));
      if (option >= 0) return option + 1 < words.length && depth < 4 ? fromCommand(words[option + 1]!, depth + 1) : null;
    }
    let next = firstArgument(words, i + 1, wrapper.valued);
    for (let n = 0; n < wrapper.positional && next >= 0; n++) next = firstArgument(words, next + 1, wrapper.valued);
    if (next < 0) return { name: base, helper: false };
    i = next;
  }
  const word = words[i]!;
  const base = basename(word);
  const program = base === 'busybox' && words[i + 1] !== undefined ? basename(words[i + 1]!) : base;
  if (SHELLS.has(program) || INTERPRETERS.has(program)) {
    const inline = words.findIndex((w, k) => k > i && (w === '-c' || w === '-e'));
    if (inline >= 0) {
      // sh -c 'cmd': the command inside; perl -e '...': the interpreter itself.
      if (SHELLS.has(program) && words[inline] === '-c' && inline + 1 < words.length && depth < 4) return fromCommand(words[inline + 1]!, depth + 1);
      return { name: program, helper: false };
    }
    const module = words.findIndex((w, k) => k > i && w === '-m');
    if (module >= 0 && module + 1 < words.length) return { name: words[module + 1]!, helper: false };
    const script = words.findIndex((w, k) => k > i && !w.startsWith('-') && !w.includes('='));
    if (script >= 0) return { name: basename(words[script]!), helper: false };
    return { name: program, helper: false };
  }
  if (DISPATCHERS.has(program)) {
    const arg = firstArgument(words, i + 1);
    return { name: arg < 0 ? program : `${program}-${basename(words[arg]!)}`, helper: false };
  }
  return { name: program, helper: HELPERS.has(program) };
}

function fromCommand(command: string, depth: number): Found | null {
  const tokens: ShellToken[] = shellTokens(command);
  // Simple commands, each with whether it starts a new list element or continues a pipeline.
  const simple: { words: string[]; piped: boolean }[] = [{ words: [], piped: false }];
  for (const token of tokens) {
    if ('word' in token) simple[simple.length - 1]!.words.push(token.word);
    else simple.push({ words: [], piped: token.op === '|' });
  }
  let best: Found | null = null;
  let helper: Found | null = null;
  let pipelineHasProgram = false;
  let pipelineHasHelper = false;
  for (const { words, piped } of simple) {
    if (!piped) pipelineHasProgram = pipelineHasHelper = false;
    const found = fromWords(words, depth);
    if (found === null) continue;
    if (found.helper) {
      if (!(piped && pipelineHasHelper)) helper = found;
      pipelineHasHelper = true;
      continue;
    }
    // The first program of a pipeline names it; a later list element replaces it.
    if (piped && pipelineHasProgram) continue;
    best = found;
    pipelineHasProgram = true;
  }
  return best ?? helper;
}

/** The program a command runs (`debian-sa1`, `run-parts-cron.daily`), or null when none shows. */
export function programName(command: string): string | null {
  return fromCommand(command, 0)?.name ?? null;
}
