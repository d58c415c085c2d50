import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { cliPath, collect, repoRoot, type CliResult } from './cli.js';

/**
 * Real local users for the attacks a root daemon must withstand: created with `useradd` the
 * first time a test asks (CI runs as root), reused after that. Tests that need them skip when
 * not root.
 */

export const isRoot = process.getuid?.() === 0;

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * Whether a user other than root can read this checkout's CLI and what it loads. In a clone
 * made inside a private directory (`mktemp -d`, 0700) no other user can: a daemon started with
 * `--user`, or the CLI run as another user, cannot even load. `.ci/run` makes the directories
 * above the checkout searchable, so in CI these tests run.
 */
function reachableByOthers(): boolean {
  const paths = [cliPath, join(repoRoot, 'dist', 'src', 'cli.js'), join(repoRoot, 'node_modules', 'better-sqlite3', 'package.json')];
  try {
    execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'sh', '-c', 'for f; do test -r "$f" || exit 1; done', 'sh', ...paths], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why a test that needs other users cannot run here, or false when it can. */
export const needsRoot: string | false = !isRoot
  ? 'needs root (creates local users with useradd)'
  : !reachableByOthers()
    ? 'other users cannot read this checkout (cloned into a private directory): see .ci/run'
    : false;

function lookup(name: string): TestUser | null {
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const [, , uid, gid, , home] = line.split(':');
    return { name, uid: Number(uid), gid: Number(gid), home: home ?? '/' };
  } catch {
    return null;
  }
}

/**
 * A local user with a home directory and a group of its own (names start with `sdt`, schedd
 * test). Idempotent, and safe when several test files ask for the same user at once.
 */
export function ensureUser(name: string, options: { groups?: string[] } = {}): TestUser {
  let user = lookup(name);
  if (user === null) {
    try {
      execFileSync('useradd', ['--create-home', '--user-group', '--shell', '/bin/sh', name], { stdio: 'ignore' });
    } catch {
      // Another test process created it first.
    }
    user = lookup(name);
    if (user === null) throw new Error(`useradd ${name} failed`);
  }
  for (const group of options.groups ?? []) {
    try {
      execFileSync('groupadd', ['-f', group], { stdio: 'ignore' });
      execFileSync('usermod', ['-a', '-G', group, name], { stdio: 'ignore' });
    } catch {
      // already a member
    }
  }
  return user;
}

/** Runs a program as `user` (uid, gid and supplementary groups), to completion. */
export function runAs(user: TestUser, file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return collect(spawnAs(user, file, args, options));
}

/** Starts a program as `user`; the caller owns the child. */
export function spawnAs(user: TestUser, file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcessByStdio<null, Readable, Readable> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', HOME: user.home, USER: user.name, LOGNAME: user.name, ...options.env };
  return spawn('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', file, ...args], { cwd: options.cwd ?? '/', env, stdio: ['ignore', 'pipe', 'pipe'] });
}
