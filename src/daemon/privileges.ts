import type { Account } from '../accounts.js';

/**
 * Becomes `account` (resolved, and root checked, by daemonAccount in commands/daemon-setup.ts):
 * supplementary groups first, then the group, then the user (the order that leaves no way
 * back). Jobs started afterwards inherit the user's HOME, USER and LOGNAME.
 */
export function dropPrivileges(account: Account): void {
  (process as unknown as { initgroups(user: string, extraGroup: number): void }).initgroups(account.name, account.gid);
  process.setgid!(account.gid);
  process.setuid!(account.uid);
  process.env.HOME = account.home;
  process.env.USER = account.name;
  process.env.LOGNAME = account.name;
}
