import { lookupAccount, type Account } from '../accounts.js';
import { ScheddError } from '../errors.js';

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
