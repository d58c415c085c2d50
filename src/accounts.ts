import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

/** The accounts jobs and the daemon run as: looked up by sources (validation), dispatch and the daemon. */

/** A user account, as cron needs it to run a job for that user. */
export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

function parsePasswdLine(line: string): Account | null {
  const [name, , uid, gid, , home, shell] = line.split(':');
  if (name === undefined || uid === undefined || gid === undefined) return null;
  return { name, uid: Number(uid), gid: Number(gid), home: home ?? '/', shell: shell ?? '/bin/sh' };
}

/** Looks a user up through NSS (getent), falling back to /etc/passwd. */
export function lookupAccount(name: string): Account | null {
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return parsePasswdLine(line);
  } catch {
    try {
      const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
      return line === undefined ? null : parsePasswdLine(line);
    } catch {
      return null;
    }
  }
}

/** The name of the user schedd runs as (a uid when the system has no name for it). */
export function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '');
  }
}

/**
 * A lookup for many names at once (every table of a machine): NSS's whole list is read once
 * (`getent passwd`), and a name it does not list (a directory that does not enumerate) is
 * still looked up alone.
 */
export function accountDirectory(): (name: string) => Account | null {
  const listed = new Map<string, Account>();
  try {
    const out = execFileSync('getent', ['passwd'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
    for (const line of out.split('\n')) {
      const account = parsePasswdLine(line);
      if (account !== null && account.name !== '' && !listed.has(account.name)) listed.set(account.name, account);
    }
  } catch {
    // No getent: every name is looked up alone (lookupAccount reads /etc/passwd then).
  }
  const missing = new Set<string>();
  return (name) => {
    const known = listed.get(name);
    if (known !== undefined) return known;
    if (missing.has(name)) return null;
    const account = lookupAccount(name);
    if (account === null) missing.add(name);
    else listed.set(name, account);
    return account;
  };
}
