import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';

/** Bounds on what one watched path may cost to hash (synchronously, on the event loop). */
const MAX_FILE_BYTES = 16 * 1024 * 1024;
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 10_000;
const MAX_DEPTH = 32;
/** Directories watched per path (inotify watches are a per-user limit of the daemon's user). */
const MAX_WATCHED_DIRS = 256;
/** open(2)'s O_PATH (Linux): a handle to name an inode by, which opens nothing. */
const O_PATH = 0o10000000;
const O_NOCTTY = constants.O_NOCTTY ?? 0;

interface Budget {
  entries: number;
  bytes: number;
  dirs: string[];
}

/**
 * What a path holds, as a digest: a file's bytes; a directory's entries (names and bytes) to
 * any depth; 'missing' when there is nothing. A touch changes none of it. The path itself is
 * followed (a link to the file, as a ConfigMap is); links inside a directory are not.
 *
 * The daemon may be root and the tree someone else's: each step is taken from a handle to the
 * directory it is in (O_PATH, through /proc/self/fd), so a directory swapped for a link
 * meanwhile is not followed, and a file is opened only once its handle shows a regular file:
 * no device, FIFO or terminal is ever opened.
 */
export function contentDigest(path: string, dirs: string[] = []): string {
  // dirs: the directories found, by name under `path` ('' for `path` itself).
  const hash = createHash('sha256');
  const budget: Budget = { entries: MAX_ENTRIES, bytes: MAX_TOTAL_BYTES, dirs };
  addEntry(hash, path, '', budget, 0, true);
  return hash.digest('hex');
}

function addEntry(hash: Hash, path: string, name: string, budget: Budget, depth: number, follow: boolean): void {
  if (--budget.entries < 0) return;
  let handle: number;
  try {
    handle = openSync(path, O_PATH | (follow ? 0 : constants.O_NOFOLLOW));
  } catch {
    hash.update(`missing ${name}\0`);
    return;
  }
  try {
    const stat = fstatSync(handle);
    const pinned = `/proc/self/fd/${handle}`;
    if (stat.isDirectory()) {
      if (depth >= MAX_DEPTH) return void hash.update(`deep ${name}\0`);
      // By its name under the watched path: its handle's number means nothing once closed.
      if (budget.dirs.length < MAX_WATCHED_DIRS) budget.dirs.push(name);
      let names: string[];
      try {
        names = readdirSync(pinned).sort();
      } catch {
        return void hash.update(`unreadable ${name}\0`);
      }
      hash.update(`dir ${name}\0`);
      for (const child of names) {
        if (budget.entries <= 0) return void hash.update('more\0');
        addEntry(hash, `${pinned}/${child}`, `${name}/${child}`, budget, depth + 1, false);
      }
      return;
    }
    if (!stat.isFile()) return void hash.update(`${stat.isSymbolicLink() ? 'link' : 'special'} ${name}\0`);
    hash.update(`file ${name}\0`);
    if (stat.size > MAX_FILE_BYTES || stat.size > budget.bytes) return void hash.update(`large ${stat.size} ${stat.mtimeMs}\0`);
    budget.bytes -= stat.size;
    addFile(hash, pinned);
  } finally {
    closeSync(handle);
  }
}

/** The bytes of the regular file behind a handle (reopened through it: the same inode). */
function addFile(hash: Hash, pinned: string): void {
  let fd: number;
  try {
    fd = openSync(pinned, constants.O_RDONLY | constants.O_NONBLOCK | O_NOCTTY);
  } catch {
    hash.update('unreadable\0');
    return;
  }
  try {
    const buffer = Buffer.allocUnsafe(64 * 1024);
    for (let n, total = 0; total < MAX_FILE_BYTES && (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; total += n) hash.update(buffer.subarray(0, n));
  } catch {
    hash.update('unreadable\0');
  } finally {
    closeSync(fd);
  }
}

/**
 * Watches files and directories for a change of content: events (inotify) are debounced, then
 * the paths are hashed again; only a digest that differs calls onChange. A file is watched
 * through its folder, so an editor's save (a new file renamed over the old) is seen too.
 */
export class ContentWatch {
  private readonly digests = new Map<string, string>();
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly paths: readonly string[],
    private readonly debounceMs: number,
    private readonly onChange: (changed: string[]) => void,
  ) {
    this.check(false);
  }

  /**
   * The watches are made anew after each look: a directory replaced, a folder created since,
   * a link pointed elsewhere are all watched as they are now. Each watched path's folder is
   * watched (an editor's save renames a new file over the old), and each directory found in
   * it, not recursively (a watch per directory, not per file).
   */
  private arm(dirs: ReadonlySet<string>): void {
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
    for (const dir of dirs) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.changed());
        watcher.on('error', () => {});
        this.watchers.push(watcher);
      } catch {
        // Not there (yet): its parent's watch sees it made.
      }
    }
  }

  private changed(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(true), this.debounceMs);
    this.timer.unref();
  }

  private check(report: boolean): void {
    if (this.closed) return;
    const changed: string[] = [];
    const dirs = new Set<string>();
    for (const path of this.paths) {
      const found: string[] = [];
      const digest = contentDigest(path, found);
      if (this.digests.has(path) && digest !== this.digests.get(path)) changed.push(path);
      this.digests.set(path, digest);
      dirs.add(dirname(path));
      for (const name of found) dirs.add(name === '' ? path : join(path, name));
    }
    this.arm(dirs);
    if (report && changed.length > 0) this.onChange(changed);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
  }
}
