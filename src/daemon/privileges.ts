import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ScheddError } from '../errors.js';

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

/**
 * Becomes `name`: supplementary groups first, then the group, then the user (the order that
 * leaves no way back). Jobs started afterwards inherit the user's HOME, USER and LOGNAME.
 */
export function dropPrivileges(name: string): Account {
  if (process.getuid?.() !== 0) throw new ScheddError('SCHEDD_USER', `--user ${name} needs schedd to be started as root`);
  const account = lookupAccount(name);
  if (account === null) throw new ScheddError('SCHEDD_USER', `--user ${name}: no such user`);
  (process as unknown as { initgroups(user: string, extraGroup: number): void }).initgroups(account.name, account.gid);
  process.setgid!(account.gid);
  process.setuid!(account.uid);
  process.env.HOME = account.home;
  process.env.USER = account.name;
  process.env.LOGNAME = account.name;
  return account;
}
