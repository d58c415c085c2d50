import { statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { accountDirectory, type Account } from '../accounts.js';
import type { Log } from '../log.js';
import { formatDiagnostic, LOGGED_ERRORS, readCrontabText } from './crontab-file.js';
import { cronLayout, currentIdentity, findCronTables, readSpoolTable, readSystemTable, type CronLayout, type SkippedFile } from './cron-tables.js';
import { mergeJobSets } from './merge.js';
import type { JobSet, JobSource, LoadedJobs } from './types.js';
import { validateJobSet, type ValidateOptions } from './validate.js';
import { watchCrontab, watchDirectory } from './watch.js';

/** How long a table that looks cut short (empty, or no final newline) is left to settle. */
const INCOMPLETE_SETTLE_MS = 200;

/** How many settle reads a source gets before what was read is taken as meant. */
const SETTLE_TRIES = 5;

/** The accounts file: users deleted and created change which entries and spool tables run. */
const PASSWD = '/etc/passwd';

export interface JobSourcesOptions {
  log: Log;
  /** Debounce of file-change events before `onChange`. */
  watchDebounceMs: number;
  /** `--cron`: the machine's cron tables under this root, beside the fixed sources. */
  cronRoot?: string;
}

/** One table's state: what of it runs, and what was last made of its file. */
interface Table {
  source: JobSource;
  /** The set that runs (the last valid text); null when nothing of the table runs. */
  applied: JobSet | null;
  /** The identity of the file last read (cron tables): the same identity need not be read again. */
  identity: string | null;
  /** Why the table is not run now (insecure, unreadable, its user gone), logged once. */
  refusal: string | null;
  /** The errors of the last text read, when it was not applied (logged once per text). */
  rejected: { text: string; errors: string[]; errorCount: number } | null;
  /** A spool table's owner, as last looked up: a user re-created under another uid is judged again. */
  owner: Account | null;
  /** The refusal is that the spool table's user does not exist: it runs once they do. */
  waitingUser: boolean;
}

/** A table that does not run as its file says, and why: for status, list and check. */
export interface TableProblem {
  source: JobSource;
  /** `refused`: nothing of it runs; `waiting`: its user does not exist (yet); `invalid`: its last valid text (if any) runs. */
  kind: 'refused' | 'waiting' | 'invalid';
  messages: string[];
  count: number;
}

/** What a load or reload made of the sources. */
export interface SourcesScan {
  /** Every job that runs now: each table's last valid set. */
  jobs: LoadedJobs;
  /** Some table's running set differs from the one before. */
  changed: boolean;
  /** Errors of texts read now that were not applied (their tables keep what they ran). */
  rejected: string[];
  rejectedCount: number;
  /** Tables refused in this scan, one line each. */
  refused: string[];
}

/**
 * The daemon's job sources: the crontab (`-c`) and, with `--cron`, every cron table of the
 * machine, each read by its own rules and applied on its own. A reload is transactional per
 * table: a table with an error keeps the entries it ran, a refused (insecure) one runs nothing,
 * and the other tables are unaffected. What to do with the jobs (schedule them, log the diff)
 * is the daemon's.
 */
export class JobSources {
  private readonly tables = new Map<string, Table>();
  private readonly layout: CronLayout | null;
  private skippedFiles: SkippedFile[] = [];
  private passwdIdentity: string | null = null;
  private watchers = new Map<string, { close(): void }>();
  private onChange: (() => void) | null = null;

  constructor(
    private readonly fixed: readonly JobSource[],
    private readonly options: JobSourcesOptions,
  ) {
    this.layout = options.cronRoot === undefined ? null : cronLayout(options.cronRoot);
  }

  /** The sources the daemon runs now (tables found at the last scan). */
  get list(): JobSource[] {
    return [...this.tables.values()].map((table) => table.source);
  }

  /** Files of the cron directories that are not tables (`schedd list --cron --all`). */
  get skipped(): readonly SkippedFile[] {
    return this.skippedFiles;
  }

  /** Tables that do not run as their file says. */
  problems(): TableProblem[] {
    const problems: TableProblem[] = [];
    for (const table of this.tables.values()) {
      if (table.refusal !== null) problems.push({ source: table.source, kind: table.waitingUser ? 'waiting' : 'refused', messages: [table.refusal], count: 1 });
      else if (table.rejected !== null) problems.push({ source: table.source, kind: 'invalid', messages: table.rejected.errors, count: table.rejected.errorCount });
    }
    return problems;
  }

  /**
   * The first load (start). A fixed source that cannot be read or trusted throws, and its
   * errors are in `jobs.errors` (the daemon refuses to start); a cron table's do not stop the
   * others, as under cron.
   */
  async load(validate: ValidateOptions = {}): Promise<SourcesScan> {
    return this.scan('start', validate, true);
  }

  /** A reload: every table judged again; unchanged files are not read again. */
  async reload(reason: string, validate: ValidateOptions = {}): Promise<SourcesScan> {
    return this.scan(reason, validate, false);
  }

  /** Calls `onChange` shortly after a table's file (or a cron directory, or the accounts) changes. */
  watch(onChange: () => void): void {
    this.onChange = onChange;
    this.armWatches();
  }

  close(): void {
    this.onChange = null;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private async scan(reason: string, validate: ValidateOptions, first: boolean): Promise<SourcesScan> {
    const { log } = this.options;
    const found = [...this.fixed];
    if (this.layout !== null) {
      const tables = findCronTables(this.layout);
      found.push(...tables.sources);
      this.skippedFiles = tables.skipped;
    }
    // Users come and go: every table is judged again when the accounts changed.
    const passwd = identityOf(PASSWD);
    const accountsChanged = passwd !== this.passwdIdentity;
    this.passwdIdentity = passwd;
    let lookup: ((name: string) => Account | null) | null = null;
    // One look at the whole account list per scan, however many tables (cron tables only: the
    // crontab keeps the accounts it first resolved).
    const accounts = (): ((name: string) => Account | null) => (lookup ??= validate.lookup ?? accountDirectory());
    const cronValidate = (): ValidateOptions => ({ ...validate, lookup: accounts(), knownAccounts: new Map() });
    let changed = false;
    const rejected: string[] = [];
    let rejectedCount = 0;
    const refused: string[] = [];
    const present = new Set<string>();
    for (const source of found) {
      present.add(source.id);
      let table = this.tables.get(source.id);
      if (table === undefined) {
        table = { source, applied: null, identity: null, refusal: null, rejected: null, owner: null, waitingUser: false };
        this.tables.set(source.id, table);
      }
      const fixed = source.table === undefined;
      let owner: Account | null = null;
      if (source.table === 'spool') owner = accounts()(source.owner!);
      const sameOwner = source.table !== 'spool' || (owner !== null && owner.uid === table.owner?.uid);
      if (!fixed && !accountsChanged && sameOwner && table.identity !== null && table.identity === currentIdentity(source) && table.applied?.waiting !== true) continue;
      let text: string;
      try {
        if (source.table === 'spool' && owner === null) throw new Error(`${source.name}: skipped: user '${source.owner}' does not exist (the table runs once the user exists)`);
        const read = await this.readSettled(source, reason, table, owner);
        text = read.text;
        table.identity = read.identity;
      } catch (error) {
        const message = (error as Error).message;
        if (fixed) {
          // Alone, the crontab's read failure is the reload's (the daemon says so).
          if (first || this.layout === null) throw error;
          // The crontab vanished or became untrusted: what it ran keeps running, as before.
          rejected.push(message);
          rejectedCount++;
          log.error({ reason, crontab: source.path, errors: [message] }, `reload rejected: ${message}; keeping its current jobs`);
          continue;
        }
        table.identity = null;
        table.rejected = null;
        table.waitingUser = source.table === 'spool' && owner === null;
        if (table.applied !== null) changed = true;
        table.applied = null;
        if (table.refusal !== message) {
          log.warn({ crontab: source.path, reason: 'refused' }, `${message}; its entries do not run`);
          refused.push(message);
        }
        table.refusal = message;
        continue;
      }
      table.refusal = null;
      table.waitingUser = false;
      table.owner = owner;
      if (!accountsChanged && table.applied !== null && table.applied.text === text && !table.applied.waiting && sameOwner) {
        table.rejected = null;
        continue;
      }
      const set = validateJobSet(text, source, fixed ? validate : cronValidate());
      if (set.errorCount > 0) {
        if (fixed && first) return this.finish(changed, [...set.errors], set.errorCount, refused, set);
        if (!fixed && table.rejected?.text !== text) {
          for (const error of set.errors.slice(0, LOGGED_ERRORS)) log.error({ reason, crontab: source.path }, `reload rejected: ${error}`);
          log.error({ reason, crontab: source.path, count: set.errorCount }, `${source.name} has ${set.errorCount} error${set.errorCount === 1 ? '' : 's'}; ${table.applied === null ? 'none of its entries run' : 'keeping its current entries'}`);
        }
        table.rejected = { text, errors: set.errors, errorCount: set.errorCount };
        rejected.push(...set.errors);
        rejectedCount += set.errorCount;
        continue;
      }
      table.rejected = null;
      if (table.applied === null || !sameJobs(table.applied, set)) changed = true;
      // A table validated again (its user still missing) says its warnings once, not per reload.
      if (table.applied === null || table.applied.warnings.join('\n') !== set.warnings.join('\n')) this.logWarnings(set);
      table.applied = set;
    }
    for (const [id, table] of this.tables) {
      if (present.has(id)) continue;
      if (table.applied !== null) changed = true;
      this.tables.delete(id);
    }
    if (this.onChange !== null) this.armWatches();
    return this.finish(changed, rejected, rejectedCount, refused, null);
  }

  private finish(changed: boolean, rejected: string[], rejectedCount: number, refused: string[], invalid: JobSet | null): SourcesScan {
    const sets = [...this.tables.values()].flatMap((table) => (table.applied === null ? [] : [table.applied]));
    // A fixed source invalid at start: its set goes with its errors, and the daemon refuses to start.
    const jobs = mergeJobSets(invalid === null ? sets : [...sets, invalid]);
    return { jobs, changed, rejected, rejectedCount, refused };
  }

  /** Cron tables log every warning when applied (a reversed range, a skipped user); the crontab its machine ones. */
  private logWarnings(set: JobSet): void {
    const cron = set.source.table !== undefined;
    const warnings = set.problems.filter((p) => p.severity === 'warning' && (cron || p.machine));
    for (const warning of warnings.slice(0, LOGGED_ERRORS)) this.options.log.warn({ crontab: set.source.path }, formatDiagnostic(set.source.name, warning));
  }

  private armWatches(): void {
    const wanted = new Map<string, Set<string> | null>();
    const want = (dir: string, name: string | null): void => {
      const names = wanted.get(dir);
      if (name === null) wanted.set(dir, null);
      else if (names !== null) wanted.set(dir, new Set([...(names ?? []), name]));
    };
    if (this.layout !== null) {
      want(dirname(this.layout.crontab), basename(this.layout.crontab));
      want(dirname(this.layout.cronD), basename(this.layout.cronD));
      want(this.layout.cronD, null);
      want(dirname(this.layout.spool), basename(this.layout.spool));
      want(this.layout.spool, null);
      want(dirname(PASSWD), basename(PASSWD));
      want(dirname(PASSWD), 'group');
    }
    const onChange = this.onChange;
    if (onChange === null) return;
    for (const source of this.fixed) {
      if (!this.watchers.has(`file:${source.path}`)) {
        this.watchers.set(`file:${source.path}`, watchCrontab(source.path, this.options.watchDebounceMs, onChange, (error) => this.options.log.error({ err: error }, 'cannot watch the crontab; reload with SIGHUP')));
      }
    }
    for (const [dir, names] of wanted) {
      const key = `dir:${dir}:${names === null ? '*' : [...names].sort().join(',')}`;
      if (this.watchers.has(key) || !isDirectory(dir)) continue;
      // A directory replaced or made since: its old watch (if any) is closed.
      for (const old of [...this.watchers.keys()].filter((k) => k.startsWith(`dir:${dir}:`))) {
        this.watchers.get(old)!.close();
        this.watchers.delete(old);
      }
      this.watchers.set(key, watchDirectory(dir, names, this.options.watchDebounceMs, onChange));
    }
  }

  /**
   * The table's text, read again while it looks cut short: a file rewritten in place is empty
   * (or ends mid-line) between the writer's truncate and its write, and applying that read would
   * drop every job until the next reload. Two reads that agree, INCOMPLETE_SETTLE_MS apart, are
   * taken as meant (an emptied crontab is applied, a little later).
   */
  private async readSettled(source: JobSource, reason: string, table: Table, owner: Account | null): Promise<{ text: string; identity: string | null }> {
    const read = async (): Promise<{ text: string; identity: string | null }> => {
      if (source.table === 'system') return readSystemTable(source);
      if (source.table === 'spool') return readSpoolTable(source, owner!);
      const text = await readCrontabText(source.path, source.name);
      return { text, identity: identityOf(source.path) };
    };
    const applied = table.applied?.text;
    let got = await read();
    for (let tries = 0; tries < SETTLE_TRIES && got.text !== applied && (got.text === '' || !got.text.endsWith('\n')); tries++) {
      this.options.log.info({ reason, crontab: source.path, delayMs: INCOMPLETE_SETTLE_MS }, `${source.table === undefined ? 'crontab' : source.name} looks incomplete (${got.text === '' ? 'empty' : 'no final newline'}); reading it again`);
      await new Promise((settle) => setTimeout(settle, INCOMPLETE_SETTLE_MS));
      const again = await read();
      // The same text is settled only if the file was not written meanwhile: two truncates of a
      // file rewritten in place again and again both read empty, and are not what was meant.
      if (again.text === got.text && again.identity === got.identity) break;
      got = again;
    }
    return got;
  }
}

/** The jobs of two valid sets of one table are the same when their texts and accounts are. */
function sameJobs(a: JobSet, b: JobSet): boolean {
  if (a.text !== b.text || a.accounts.size !== b.accounts.size) return false;
  for (const [name, account] of a.accounts) if (b.accounts.get(name)?.uid !== account.uid) return false;
  return true;
}

/** When and how the file was last written, or null when it cannot be told. */
function identityOf(path: string): string | null {
  try {
    const stat = statSync(path, { bigint: true });
    return `${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
  } catch {
    return null;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export { cronLayout };
