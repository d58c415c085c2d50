import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readFile, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { formatDiagnostic, readCrontabText } from '../sources/crontab-file.js';
import { crontabSource } from '../sources/load.js';
import { validateJobSet } from '../sources/validate.js';
import { ExitCode } from '../errors.js';
import { escapeText } from '../terminal.js';

/**
 * `schedd edit`, like `crontab -e`: the user edits a copy, and the crontab is replaced only by a
 * valid file, atomically (a temporary file in the crontab's folder renamed over it), so a
 * running daemon never reads half a file or an invalid one. Nothing is signalled: the daemon
 * watches the crontab's folder.
 */

export interface EditOptions {
  crontabPath: string;
  /** How the crontab is named in messages (the path as the user gave it). */
  crontabName: string;
  system: boolean;
  /** Editor command, shell words allowed (default: $VISUAL, else $EDITOR, else vi). */
  editor?: string;
  /** Where the answer to "Edit again?" is read (default: stdin). */
  input?: NodeJS.ReadableStream;
  /** The prompt and the outcome (default: stdout). */
  output?: NodeJS.WritableStream;
  /** Diagnostics and failures (default: stderr). */
  errorOutput?: NodeJS.WritableStream;
}

export async function editCommand(options: EditOptions): Promise<number> {
  const output = options.output ?? process.stdout;
  const errors = options.errorOutput ?? process.stderr;
  const name = options.crontabName;
  const editor = options.editor ?? (process.env.VISUAL || process.env.EDITOR || 'vi');

  const target = await writeTarget(options.crontabPath);
  // A new crontab starts as a short header; saving just that is "no changes", and creates nothing.
  const original = (await readExisting(target)) ?? newCrontabHeader(options.system);
  const editPath = await createEditFile(original);
  // Made on the first question only: stdin is the editor's until something must be asked.
  let answers: (() => Promise<string | null>) | null = null;
  const keepEdits = (): void => void errors.write(`schedd: crontab not installed; your edits are in ${editPath}\n`);

  for (;;) {
    const failure = await runEditor(editor, editPath);
    const text = await readFile(editPath, 'utf8').catch(() => null);
    if (text === null) {
      errors.write(`schedd: ${editPath} is gone after editing; ${name} not changed\n`);
      return ExitCode.failure;
    }
    const changed = text !== original;
    if (failure !== null) {
      if (!changed) await rm(editPath, { force: true });
      errors.write(`schedd: ${failure}; ${name} not changed${changed ? `, your edits are in ${editPath}` : ''}\n`);
      return ExitCode.failure;
    }
    if (!changed) {
      await rm(editPath, { force: true });
      output.write(`schedd: no changes made to ${name}\n`);
      return ExitCode.ok;
    }
    // What start would refuse (an unknown user, too) is not installed: the same validation.
    const set = validateJobSet(text, crontabSource(options.crontabPath, name, options.system));
    for (const d of set.problems) errors.write(`${escapeText(formatDiagnostic(name, d))}\n`);
    if (set.errorCount === 0) {
      try {
        await installAtomically(target, text);
      } catch (error) {
        errors.write(`schedd: cannot install ${name}: ${(error as Error).message}\n`);
        keepEdits();
        return ExitCode.failure;
      }
      await rm(editPath, { force: true });
      const jobs = set.entries.length;
      output.write(`schedd: installed ${name} (${jobs} ${jobs === 1 ? 'job' : 'jobs'})\n`);
      return ExitCode.ok;
    }
    answers ??= lineReader(options.input ?? process.stdin);
    if (!(await askEditAgain(output, answers))) {
      keepEdits();
      return ExitCode.failure;
    }
  }
}

function newCrontabHeader(system: boolean): string {
  const user = system ? ' user' : '';
  return (
    `# schedd crontab: one job a line, "minute hour day-of-month month day-of-week${user} command".\n` +
    '# Lines starting with # are comments. See `schedd check` and `schedd list`.\n'
  );
}

/**
 * The file to replace: a symlinked crontab is written through to its target, so the link stays
 * (renaming over the link itself would turn it into a plain file). Follows dangling links too.
 */
async function writeTarget(path: string, depth = 0): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || depth > 40) return path;
  }
  const link = await lstat(path).catch(() => null);
  if (link === null || !link.isSymbolicLink()) return path;
  return writeTarget(resolve(dirname(path), await readlink(path)), depth + 1);
}

async function readExisting(path: string): Promise<string | null> {
  try {
    // The same checks and one-line reasons as every other command that reads the crontab.
    return await readCrontabText(path, path, { forEditing: true });
  } catch (error) {
    if (((error as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return null;
    throw error;
  }
}

function randomSuffix(): string {
  return randomBytes(6).toString('hex');
}

export async function createEditFile(text: string): Promise<string> {
  const path = join(tmpdir(), `schedd-${randomSuffix()}.crontab`);
  // 'wx': never follow or reuse a file someone else put in the shared temporary folder.
  await writeFile(path, text, { flag: 'wx', mode: 0o600 });
  return path;
}

/** Runs the editor on the file; null when it succeeded, else what went wrong. */
export function runEditor(editor: string, file: string): Promise<string | null> {
  // Through the shell, so EDITOR="code --wait" works; the file goes in as "$1", so its name
  // is never parsed by the shell.
  const child = spawn('/bin/sh', ['-c', `exec ${editor} "$1"`, 'sh', file], { stdio: 'inherit' });
  // Ctrl-C reaches the editor too (same process group); let the editor decide, as crontab does.
  const ignore = (): void => {};
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  return new Promise<string | null>((settle) => {
    child.on('error', (error) => settle(`cannot run editor '${editor}': ${error.message}`));
    child.on('exit', (code, signal) => {
      if (signal !== null) settle(`editor '${editor}' was killed by ${signal}`);
      else if (code === 127) settle(`editor '${editor}' not found (set $VISUAL or $EDITOR)`);
      else settle(code === 0 ? null : `editor '${editor}' exited with status ${code}`);
    });
  }).finally(() => {
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
  });
}

async function askEditAgain(output: NodeJS.WritableStream, answers: () => Promise<string | null>): Promise<boolean> {
  for (;;) {
    output.write('Edit again? [Y/n] ');
    const answer = await answers();
    if (answer === null) {
      output.write('\n');
      return false;
    }
    const word = answer.trim().toLowerCase();
    if (word === '' || word === 'y' || word === 'yes') return true;
    if (word === 'n' || word === 'no') return false;
  }
}

/**
 * Reads one line at a time, keeping what arrived beyond it for the next call. The stream is
 * paused between calls: a terminal's keystrokes belong to the editor while it runs.
 */
export function lineReader(input: NodeJS.ReadableStream): () => Promise<string | null> {
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  let ended = false;
  let waiting: (() => void) | null = null;
  // For the reader's whole life: a stream paused after the last line may still end meanwhile.
  const onEnd = (): void => {
    ended = true;
    buffered += decoder.end();
    waiting?.();
  };
  input.once('end', onEnd);
  input.on('error', onEnd);
  const takeLine = (): string | null => {
    const end = buffered.indexOf('\n');
    if (end >= 0) {
      const line = buffered.slice(0, end).replace(/\r$/, '');
      buffered = buffered.slice(end + 1);
      return line;
    }
    if (!ended) return null;
    const rest = buffered;
    buffered = '';
    return rest === '' ? null : rest;
  };
  return () =>
    new Promise((settle) => {
      const onData = (chunk: Buffer | string): void => {
        buffered += typeof chunk === 'string' ? chunk : decoder.write(chunk);
        attempt();
      };
      const attempt = (): boolean => {
        const line = takeLine();
        if (line === null && !ended) return false;
        waiting = null;
        input.off('data', onData);
        input.pause();
        settle(line);
        return true;
      };
      if (attempt()) return;
      waiting = attempt;
      input.on('data', onData);
      input.resume();
    });
}

/**
 * Replaces the file with `text` in one rename: written to a temporary file in the same folder
 * (rename is atomic only within a filesystem), flushed to disk first so a crash cannot leave an
 * empty crontab behind, with the old file's mode and owner.
 */
async function installAtomically(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  const previous = await stat(path).catch(() => null);
  if (previous === null) await mkdir(dir, { recursive: true, mode: 0o700 });
  const temporary = join(dir, `.${basename(path)}.schedd-${randomSuffix()}`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(text, 'utf8');
      // Explicitly, as the mode given to open() is reduced by the umask.
      await handle.chmod(previous === null ? 0o600 : previous.mode & 0o7777);
      if (previous !== null && process.getuid?.() === 0) await handle.chown(previous.uid, previous.gid);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  // Make the rename itself durable; not every filesystem lets a folder be synced.
  const folder = await open(dir, 'r').catch(() => null);
  await folder?.sync().catch(() => {});
  await folder?.close();
}
