import { existsSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { lookupAccount, safeUserName } from '../accounts.js';
import { ExitCode, ScheddError, usageError } from '../errors.js';
import { spoolableName } from '../spool/layout.js';
import { crontabCall } from '../spool/client.js';
import { MAX_TABLE_BYTES, type InstallResult } from '../spool/protocol.js';
import { installTable, readTable, removeTable } from '../spool/table.js';
import { escapeText } from '../terminal.js';
import { createEditFile, lineReader, runEditor } from './edit.js';

/**
 * `schedd crontab`, crontab(1) for the cron spool (`CRONROOT/var/spool/cron/crontabs/USER`):
 * -l, -e, -r (-i asks first), FILE or - to install, -u USER for root. Root works on the spool
 * itself; anyone else asks the root daemon on crontab.sock (spool/server.ts), which acts only
 * on the caller's own table. Either way a table is validated as the daemon will read it and
 * installed only when valid, atomically, owned by its user, mode 0600.
 */

export type CrontabAction = { kind: 'list' } | { kind: 'edit' } | { kind: 'remove'; ask: boolean } | { kind: 'install'; file: string };

export interface CrontabOptions {
  action: CrontabAction;
  user?: string;
  cronRoot: string;
  /** The socket of the daemon that serves users (non-root). */
  socket: string;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WriteStream | NodeJS.WritableStream;
  errorOutput?: NodeJS.WritableStream;
}

/** The four things done to one user's table, by root on the spool or through the daemon. */
interface TableAccess {
  list(): Promise<{ user: string; text: string | null }>;
  install(text: string, name: string): Promise<InstallResult>;
  remove(): Promise<{ user: string; removed: boolean }>;
}

function direct(cronRoot: string, user: string): TableAccess {
  if (!spoolableName(user)) throw new ScheddError('SCHEDD_CRONTAB_USER', `user '${user}' cannot name a table in the spool`);
  const account = lookupAccount(user);
  if (account === null) throw new ScheddError('SCHEDD_CRONTAB_USER', `user '${user}' unknown`);
  return {
    list: async () => ({ user, text: await readTable(cronRoot, user) }),
    install: (text, name) => installTable(cronRoot, account, text, name),
    remove: async () => ({ user, removed: await removeTable(cronRoot, user) }),
  };
}

function throughDaemon(socket: string, cronRoot: string): TableAccess {
  return {
    list: () => crontabCall(socket, { op: 'list', cronRoot }),
    install: (text, name) => crontabCall(socket, { op: 'install', cronRoot, name, text }),
    remove: () => crontabCall(socket, { op: 'remove', cronRoot }),
  };
}

export async function crontabCommand(options: CrontabOptions): Promise<number> {
  const out = options.output ?? process.stdout;
  const err = options.errorOutput ?? process.stderr;
  const root = process.geteuid?.() === 0;
  if (options.user !== undefined && !root) {
    err.write('must be privileged to use -u\n');
    return ExitCode.failure;
  }
  let access: TableAccess;
  if (root) {
    const user = options.user ?? safeUserName();
    // Root is always allowed; cron.allow and cron.deny are about who runs the command.
    access = direct(options.cronRoot, user);
  } else {
    access = throughDaemon(options.socket, options.cronRoot);
  }
  const { action } = options;
  if (action.kind === 'list') {
    const { user, text } = await access.list();
    if (text === null) {
      err.write(`no crontab for ${escapeText(user)}\n`);
      return ExitCode.failure;
    }
    // To a file or a pipe the bytes as installed (`crontab -l > saved; crontab saved` gives
    // back the same table); to a terminal with its control characters shown, not obeyed.
    out.write('isTTY' in out && out.isTTY === true ? escapeText(text, { keepNewlines: true }) : text);
    return ExitCode.ok;
  }
  if (action.kind === 'remove') {
    if (action.ask) {
      // Our own name as passwd has it: the daemon finds the same one from our uid.
      out.write(`crontab: really delete ${escapeText(options.user ?? safeUserName())}'s crontab? (y/n) `);
      if (!(await yes(options.input ?? process.stdin, out))) return ExitCode.ok;
    }
    const { user, removed } = await access.remove();
    if (!removed) {
      err.write(`no crontab for ${escapeText(user)}\n`);
      return ExitCode.failure;
    }
    return ExitCode.ok;
  }
  if (action.kind === 'install') {
    const text = await readInput(action.file, options.input ?? process.stdin);
    const result = await access.install(text, action.file);
    return reportInstall(result, err) ? ExitCode.ok : ExitCode.failure;
  }
  return editTable(access, options, out, err);
}

/** Prints the install's warnings, or its errors and Debian's refusal; true when installed. */
function reportInstall(result: InstallResult, err: NodeJS.WritableStream): boolean {
  for (const line of result.installed ? result.warnings : [...result.errors, ...result.warnings]) err.write(`${escapeText(line)}\n`);
  if (!result.installed && result.errorCount > result.errors.length) err.write(`... and ${result.errorCount - result.errors.length} more errors\n`);
  if (!result.installed) err.write("errors in crontab file, can't install.\n");
  return result.installed;
}

async function readInput(file: string, stdin: NodeJS.ReadableStream): Promise<string> {
  if (file !== '-') {
    try {
      const handle = await open(file, 'r');
      try {
        const stat = await handle.stat();
        if (!stat.isFile()) throw new ScheddError('SCHEDD_CRONTAB_INPUT', `${file}: not a regular file`);
        if (stat.size > MAX_TABLE_BYTES) throw new ScheddError('SCHEDD_CRONTAB_INPUT', `${file}: over ${MAX_TABLE_BYTES / 1024} KiB (expected a crontab)`);
        return await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (error instanceof ScheddError) throw error;
      throw new ScheddError('SCHEDD_CRONTAB_INPUT', `${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (error as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_TABLE_BYTES) throw new ScheddError('SCHEDD_CRONTAB_INPUT', `standard input: over ${MAX_TABLE_BYTES / 1024} KiB (expected a crontab)`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Debian's editor choice: $VISUAL, $EDITOR, then sensible-editor, editor, vi. */
export function defaultEditor(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VISUAL) return env.VISUAL;
  if (env.EDITOR) return env.EDITOR;
  return ['/usr/bin/sensible-editor', '/usr/bin/editor'].find((path) => existsSync(path)) ?? 'vi';
}

async function editTable(access: TableAccess, options: CrontabOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const { user, text: current } = await access.list();
  if (current === null) err.write(`no crontab for ${escapeText(user)} - using an empty one\n`);
  const original = current ?? '';
  const editPath = await createEditFile(original);
  let answers: (() => Promise<string | null>) | null = null;
  for (;;) {
    const failure = await runEditor(defaultEditor(), editPath);
    const text = await readFile(editPath, 'utf8').catch(() => null);
    if (text === null) {
      err.write(`crontab: ${editPath} is gone after editing; crontab not changed\n`);
      return ExitCode.failure;
    }
    if (failure !== null) {
      err.write(`crontab: ${escapeText(failure)}; crontab not changed, your edits are in ${editPath}\n`);
      return ExitCode.failure;
    }
    if (text === original) {
      await rm(editPath, { force: true });
      err.write('crontab: no changes made to crontab\n');
      return ExitCode.ok;
    }
    if (Buffer.byteLength(text, 'utf8') > MAX_TABLE_BYTES) {
      err.write(`crontab: the table is over ${MAX_TABLE_BYTES / 1024} KiB; your edits are in ${editPath}\n`);
      return ExitCode.failure;
    }
    const result = await access.install(text, editPath);
    if (reportInstall(result, err)) {
      await rm(editPath, { force: true });
      err.write('crontab: installing new crontab\n');
      return ExitCode.ok;
    }
    answers ??= lineReader(options.input ?? process.stdin);
    if (!(await retry(out, answers))) {
      err.write(`crontab: edits left in ${editPath}\n`);
      return ExitCode.failure;
    }
  }
}

/** crontab's question after a refused edit: y or n (Y, N too); anything else asks again, end of input is no. */
async function retry(out: NodeJS.WritableStream, answers: () => Promise<string | null>): Promise<boolean> {
  for (;;) {
    out.write('Do you want to retry the same edit? (y/n) ');
    const answer = await answers();
    if (answer === null) {
      out.write('\n');
      return false;
    }
    const word = answer.trim().toLowerCase();
    if (word === 'y' || word === 'yes') return true;
    if (word === 'n' || word === 'no') return false;
    out.write('Enter Y or N\n');
  }
}

async function yes(input: NodeJS.ReadableStream, out: NodeJS.WritableStream): Promise<boolean> {
  const answer = await lineReader(input)();
  if (answer === null) out.write('\n');
  return answer !== null && /^y(es)?$/i.test(answer.trim());
}
