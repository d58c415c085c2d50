import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { lookupAccount, safeUserName, type Account } from '../accounts.js';
import { parseCrontab } from '../crontab/parse.js';
import type { Diagnostic } from '../crontab/types.js';
import { errorCount, formatDiagnostic } from './crontab-file.js';
import type { JobSet, JobSource, Problem } from './types.js';

/**
 * The one validation of a job source, for start, reload, check, list and edit alike, so that
 * `check` refuses exactly what `start` refuses: the parser's diagnostics, then what only this
 * machine can tell. Whether the file itself may be trusted (owner, mode, directories) is judged
 * when it is read, from the descriptor it is read from (readCrontabText).
 *
 * - Jobs for other users need root, and users that exist (their accounts are returned: runs
 *   use them).
 * - A cwd is resolved against the file's folder here, once, when the entries are made.
 * - A cwd that is missing (or not a directory) is a warning, not an error: the directory may
 *   come later (a mount), and until then each run is reported as one that could not start.
 */

export interface ValidateOptions {
  /**
   * Accounts from earlier loads, looked up again only when missing: a running daemon keeps the
   * account it first resolved for a user.
   */
  knownAccounts?: ReadonlyMap<string, Account>;
  /** The rest are for tests: how users are looked up, whether we run as root, and as whom. */
  lookup?: (name: string) => Account | null;
  root?: boolean;
  selfName?: string;
}

export function validateJobSet(text: string, source: JobSource, options: ValidateOptions = {}): JobSet {
  // The machine's tables are read as Debian's cron reads them (no seconds field, no L/W/#).
  const parsed = parseCrontab(text, { system: source.system, ...(source.table === undefined ? {} : { vixie: true }) });
  const lookup = options.lookup ?? lookupAccount;
  const root = options.root ?? process.getuid?.() === 0;
  const folder = dirname(source.path);
  const own: Problem[] = [];
  const accounts = new Map<string, Account>();
  // One lookup (a getent) and one stat per name or path, however many entries share it.
  const unknown = new Set<string>();
  const cwdKinds = new Map<string, 'directory' | 'missing' | 'file'>();
  let self: string | undefined;
  const entries: typeof parsed.entries = [];
  let waiting = false;
  let looksSystem = !source.system && source.owner === undefined;
  for (const entry of parsed.entries) {
    entry.source = source.id;
    if (source.id !== '') entry.id = `${source.id}:${entry.id}`;
    if (source.owner !== undefined) {
      // A user's table runs as its owner, and only as its owner.
      if (entry.options.user !== undefined && entry.options.user !== source.owner) {
        own.push({ line: entry.line, col: 1, severity: 'error', machine: true, message: `user=${entry.options.user}: a user's crontab runs only as its owner (${source.owner})`, expected: `no user=, or user=${source.owner}` });
      }
      if (entry.options.service?.watch !== undefined) {
        own.push({ line: entry.line, col: 1, severity: 'error', machine: true, message: "watch= is not allowed in a user's crontab (root would read the watched files)", expected: 'no watch= here; restart the service with schedd service restart' });
      }
      entry.user = source.owner;
    }
    if (looksSystem && looksLikeUserColumn(entry.command, lookup)) {
      // Once per file: a table written for /etc/crontab read as a plain one runs `root` as a command.
      looksSystem = false;
      const user = entry.command.trim().split(/\s+/)[0]!;
      own.push({ line: entry.line, col: 1, severity: 'warning', machine: true, message: `this looks like a system crontab line ('${user}' is a user, then the command), but the file is read as a user's: cron would run '${user}' as a command`, expected: 'schedd ... --system for a table with a user column, or --cron for /etc/crontab and /etc/cron.d' });
    }
    const name = entry.user ?? entry.options.user;
    if (name !== undefined) {
      const at = { line: entry.line, col: entry.userCol ?? 1, severity: 'error', machine: true } as const;
      if (!root) {
        // Running every job as schedd's own user is what a user crontab means.
        self ??= options.selfName ?? safeUserName();
        if (name !== self) own.push({ ...at, message: `cannot run jobs as '${name}': schedd is not running as root`, expected: 'no user, or start schedd as root' });
      } else {
        const account = accounts.get(name) ?? options.knownAccounts?.get(name) ?? (unknown.has(name) ? null : lookup(name));
        if (account === null) {
          unknown.add(name);
          if (entry.user !== undefined) {
            // As cron does: the entry of a user who does not exist (yet) is skipped, the rest run.
            waiting = true;
            own.push({ ...at, severity: 'warning', message: `unknown user '${name}': entry skipped until the user exists` });
            continue;
          }
          own.push({ ...at, message: `unknown user '${name}'`, expected: 'an account on this machine' });
        } else accounts.set(name, account);
      }
    }
    const cwd = entry.options.cwd;
    if (cwd !== undefined) {
      const resolved = resolve(folder, cwd);
      // A copy: the options object is the parser's, and is not ours to rewrite.
      entry.options = { ...entry.options, cwd: resolved };
      let kind = cwdKinds.get(resolved);
      if (kind === undefined) cwdKinds.set(resolved, (kind = pathKind(resolved)));
      if (kind !== 'directory') {
        const what = kind === 'missing' ? 'does not exist (runs fail to start until it does)' : 'is not a directory (runs fail to start until it is one)';
        own.push({ line: entry.line, col: 1, severity: 'warning', machine: true, message: `cwd ${resolved} ${what}` });
      }
    }
    // A service's watched paths, like cwd, are relative to the file's folder.
    const watch = entry.options.service?.watch;
    if (watch !== undefined) entry.options = { ...entry.options, service: { ...entry.options.service, watch: watch.map((path) => resolve(folder, path)) } };
    entries.push(entry);
  }
  const problems = mergeByPlace(parsed.diagnostics, own);
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const problem of problems) (problem.severity === 'error' ? errors : warnings).push(formatDiagnostic(source.name, problem));
  const ownErrors = own.filter((p) => p.severity === 'error').length;
  const parserWarnings = parsed.diagnostics.length - (errorCount(parsed) - (parsed.omitted?.errors ?? 0)) + (parsed.omitted?.warnings ?? 0);
  return {
    source,
    entries,
    waiting,
    problems,
    errors,
    errorCount: errorCount(parsed) + ownErrors,
    warnings,
    warningCount: parserWarnings + own.length - ownErrors,
    text,
    accounts,
  };
}

/** `root /usr/bin/thing`: a first word that is a user (root always), then a command. */
function looksLikeUserColumn(command: string, lookup: (name: string) => Account | null): boolean {
  const match = /^\s*([a-z_][a-z0-9_.-]*)\s+\S/.exec(command);
  if (match === null) return false;
  const word = match[1]!;
  // `root` is the parser's to warn about (from the text alone); other users need the machine.
  return SYSTEM_USERS.has(word) && lookup(word) !== null;
}

/** Users that system tables name and that are not commands too (`www-data`, not `mail` or `games`). */
const SYSTEM_USERS = new Set(['www-data', 'nobody', 'daemon', 'postgres', 'mysql', 'nagios', 'zabbix', 'munin', 'smmsp']);

function pathKind(path: string): 'directory' | 'missing' | 'file' {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'file';
  } catch {
    return 'missing';
  }
}

/** The parser's diagnostics (sorted) and ours (in entry order) as one list in file order. */
function mergeByPlace(parsed: readonly Diagnostic[], own: readonly Problem[]): Problem[] {
  const merged: Problem[] = [];
  let j = 0;
  for (const d of parsed) {
    while (j < own.length && (own[j]!.line < d.line || (own[j]!.line === d.line && own[j]!.col < d.col))) merged.push(own[j++]!);
    merged.push({ ...d, machine: false });
  }
  while (j < own.length) merged.push(own[j++]!);
  return merged;
}
