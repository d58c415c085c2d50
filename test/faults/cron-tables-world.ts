// The machine of the cron tables scenario: a cron root whose tables the scenario adds, rewrites,
// makes insecure and secure again, removes, and whose users it deletes and re-creates, keeping
// for each table which of its versions schedd may run and since when. Every version is a
// number written into the job's command, so a run says exactly which text it came from: a
// version only ever written while its table was insecure (or invalid) must never run.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, linkSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestUser } from '../helpers/users.js';

export type Kind = 'system' | 'spool';

/** How a table is made insecure: each one a rule of cron's. */
export type Insecurity = 'chmod-g+w' | 'chmod-o+w' | 'chown-user' | 'hard-link' | 'user-symlink' | 'chmod-644' | 'chown-other' | 'spool-symlink';

export const SYSTEM_INSECURITIES: readonly Insecurity[] = ['chmod-g+w', 'chmod-o+w', 'chown-user', 'hard-link', 'user-symlink'];
export const SPOOL_INSECURITIES: readonly Insecurity[] = ['chmod-644', 'chown-other', 'hard-link', 'spool-symlink'];

/** One span of a table during which schedd should run `version` (null: nothing of it). */
export interface Span {
  fromMs: number;
  version: number | null;
}

export interface Table {
  /** The job-id prefix schedd gives it: `crontab`, `cron.d/NAME`, `user/NAME`. */
  id: string;
  kind: Kind;
  path: string;
  /** The spool table's user. */
  user?: TestUser;
  state: 'secure' | 'insecure' | 'removed' | 'user-deleted';
  /** The version in the file now, and whether its text is valid. */
  content: { version: number; valid: boolean } | null;
  /** The last valid version written while secure: what a secure table runs. */
  applied: number | null;
  spans: Span[];
  /** What the insecurity left to clean (a hard link, a symlink's target). */
  leftover: string | null;
  lastChangeMs: number;
}

export class CronWorld {
  readonly tables: Table[] = [];
  private version = 0;
  readonly etc: string;
  readonly cronD: string;
  readonly spool: string;
  readonly links: string;

  constructor(
    readonly root: string,
    private readonly ledger: string,
    readonly users: readonly TestUser[],
  ) {
    this.etc = join(root, 'etc');
    this.cronD = join(root, 'etc/cron.d');
    this.spool = join(root, 'var/spool/cron/crontabs');
    // Outside every cron directory: a hard link here is not itself a table.
    this.links = join(root, 'links');
    for (const dir of [this.cronD, this.spool, this.links]) mkdirSync(dir, { recursive: true, mode: 0o755 });
  }

  /** The text of a version: one every-second job that appends its run and its version to the ledger. */
  text(kind: Kind, version: number, valid: boolean): string {
    const fields = `$SCHEDD_JOB_ID $SCHEDD_SCHEDULED_AT $SCHEDD_RUN_ID ${version} $(date +%s%3N)`.replace(/%/g, '\\%');
    const user = kind === 'system' ? ' root' : '';
    const bad = valid ? '' : '61 * * * * *' + user + ' true\n';
    return `# version ${version}\n# schedd: name=tick\n* * * * * *${user} echo "start ${fields}" >> ${this.ledger}\n${bad}`;
  }

  /** A table created secure with a first valid version. */
  create(id: string, kind: Kind, path: string, user?: TestUser): Table {
    const table: Table = { id, kind, path, ...(user === undefined ? {} : { user }), state: 'removed', content: null, applied: null, spans: [], leftover: null, lastChangeMs: 0 };
    this.tables.push(table);
    this.add(table);
    return table;
  }

  private next(): number {
    return ++this.version;
  }

  private owner(table: Table): TestUser | { uid: number; gid: number } {
    return table.user ?? { uid: 0, gid: 0 };
  }

  private mark(table: Table, version: number | null): void {
    const now = Date.now();
    table.lastChangeMs = now;
    if (table.spans.at(-1)?.version !== version) table.spans.push({ fromMs: now, version });
  }

  /** A secure file with a new valid version, renamed into place (a dot name is no table meanwhile). */
  private installSecure(table: Table): number {
    const version = this.next();
    const temp = join(table.kind === 'system' ? this.cronD : this.spool, `.new-${version}`);
    writeFileSync(temp, this.text(table.kind, version, true), { mode: table.kind === 'system' ? 0o644 : 0o600 });
    const owner = this.owner(table);
    chownSync(temp, owner.uid, owner.gid);
    chmodSync(temp, table.kind === 'system' ? 0o644 : 0o600);
    renameSync(temp, table.path);
    table.content = { version, valid: true };
    return version;
  }

  add(table: Table): void {
    const version = this.installSecure(table);
    table.state = 'secure';
    table.applied = version;
    this.mark(table, version);
  }

  /** A rewrite of a secure table: by rename or in place, valid (runs) or invalid (the last valid text keeps running). */
  rewrite(table: Table, how: 'rename' | 'in-place', valid: boolean): void {
    const version = this.next();
    const text = this.text(table.kind, version, valid);
    if (how === 'in-place') writeFileSync(table.path, text);
    else {
      const temp = join(table.kind === 'system' ? this.cronD : this.spool, `.new-${version}`);
      writeFileSync(temp, text);
      const owner = this.owner(table);
      chownSync(temp, owner.uid, owner.gid);
      chmodSync(temp, table.kind === 'system' ? 0o644 : 0o600);
      renameSync(temp, table.path);
    }
    table.content = { version, valid };
    if (valid) table.applied = version;
    this.mark(table, table.applied);
  }

  /**
   * Makes the table insecure, then writes a new version into it: that version exists only in an
   * insecure file, so any run of it is a violation, whatever the latency.
   */
  makeInsecure(table: Table, how: Insecurity): void {
    const version = this.next();
    const text = this.text(table.kind, version, true);
    const other = this.users.find((u) => u.uid !== table.user?.uid)!;
    switch (how) {
      case 'chmod-g+w':
        chmodSync(table.path, 0o664);
        break;
      case 'chmod-o+w':
        chmodSync(table.path, 0o646);
        break;
      case 'chmod-644':
        chmodSync(table.path, 0o644);
        break;
      case 'chown-user':
      case 'chown-other':
        chownSync(table.path, other.uid, other.gid);
        break;
      case 'hard-link': {
        const link = join(this.links, `${table.id.replace('/', '-')}-${version}`);
        linkSync(table.path, link);
        table.leftover = link;
        break;
      }
      case 'user-symlink':
      case 'spool-symlink': {
        // A link in the table's place: a system table's link owned by a user, a spool table's
        // any link (opened without following), pointing at a file that looks secure.
        const target = join(this.links, `target-${version}`);
        writeFileSync(target, text, { mode: how === 'spool-symlink' ? 0o600 : 0o644 });
        const owner = this.owner(table);
        chownSync(target, owner.uid, owner.gid);
        const temp = join(table.kind === 'system' ? this.cronD : this.spool, `.link-${version}`);
        symlinkSync(target, temp);
        const linkOwner = how === 'user-symlink' ? other : this.owner(table);
        lchownSync(temp, linkOwner.uid, linkOwner.gid);
        renameSync(temp, table.path);
        table.leftover = target;
        break;
      }
    }
    if (how !== 'user-symlink' && how !== 'spool-symlink') writeFileSync(table.path, text);
    table.content = { version, valid: true };
    table.state = 'insecure';
    table.applied = null;
    this.mark(table, null);
  }

  /** Secure again: a new valid version renamed over the insecure file, and what it left removed. */
  makeSecure(table: Table): void {
    const version = this.installSecure(table);
    if (table.leftover !== null) rmSync(table.leftover, { force: true });
    table.leftover = null;
    table.state = 'secure';
    table.applied = version;
    this.mark(table, version);
  }

  remove(table: Table): void {
    unlinkSync(table.path);
    table.content = null;
    table.state = 'removed';
    table.applied = null;
    this.mark(table, null);
  }

  /** userdel of a spool table's user (retried while one of their jobs still runs). */
  deleteUser(table: Table): void {
    const user = table.user!;
    for (let tries = 0; ; tries++) {
      try {
        execFileSync('userdel', [user.name], { stdio: 'ignore' });
        break;
      } catch (error) {
        if (tries > 50) throw error;
        execFileSync('sleep', ['0.05']);
      }
    }
    table.state = 'user-deleted';
    table.applied = null;
    this.mark(table, null);
  }

  /** useradd with the same uid: the table (owned by that uid, mode 600) runs its file again, if valid. */
  recreateUser(table: Table): void {
    const user = table.user!;
    // userdel took the user's own group with them.
    try {
      execFileSync('groupadd', ['--gid', String(user.gid), user.name], { stdio: 'ignore' });
    } catch {
      // It survived (another member, or no user groups here).
    }
    execFileSync('useradd', ['--uid', String(user.uid), '--gid', String(user.gid), '--no-create-home', '--home-dir', user.home, '--shell', '/bin/sh', user.name], { stdio: 'ignore' });
    table.state = 'secure';
    table.applied = table.content?.valid === true ? table.content.version : null;
    this.mark(table, table.applied);
  }
}
