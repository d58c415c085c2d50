import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Bounds on what one watched path may cost to hash. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
const MAX_FILES = 10_000;

/**
 * What a path holds, as a digest: a file's bytes; a directory's files (names and bytes, links
 * not followed) to any depth; 'missing' when there is nothing. A touch changes none of it.
 */
export function contentDigest(path: string): string {
  const hash = createHash('sha256');
  const budget = { files: MAX_FILES };
  addPath(hash, path, '', budget);
  return hash.digest('hex');
}

function addPath(hash: Hash, path: string, name: string, budget: { files: number }): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    hash.update(`missing ${name}\0`);
    return;
  }
  if (stat.isDirectory()) {
    let names: string[];
    try {
      names = readdirSync(path).sort();
    } catch {
      hash.update(`unreadable ${name}\0`);
      return;
    }
    hash.update(`dir ${name}\0`);
    for (const child of names) {
      if (budget.files <= 0) return;
      addPath(hash, join(path, child), `${name}/${child}`, budget);
    }
    return;
  }
  if (!stat.isFile()) {
    // A link (not followed inside a directory, so a loop cannot trap the hash), a FIFO, a device.
    hash.update(`${stat.isSymbolicLink() ? 'link' : 'special'} ${name}\0`);
    return;
  }
  budget.files--;
  hash.update(`file ${name}\0`);
  addFile(hash, path);
}

function addFile(hash: Hash, path: string): void {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO swapped in between the lstat and the open cannot hang the daemon.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    hash.update('unreadable\0');
    return;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return void hash.update('special\0');
    if (stat.size > MAX_FILE_BYTES) return void hash.update(`large ${stat.size} ${stat.mtimeMs}\0`);
    const buffer = Buffer.allocUnsafe(64 * 1024);
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
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
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly paths: readonly string[],
    private readonly debounceMs: number,
    private readonly onChange: (changed: string[]) => void,
  ) {
    for (const path of paths) {
      this.digests.set(path, contentDigest(path));
      this.watchPath(path);
    }
  }

  private watchPath(path: string): void {
    let isDirectory = false;
    try {
      isDirectory = lstatSync(path).isDirectory();
    } catch {
      // Missing: its folder is watched, and its creation is a change.
    }
    const target = isDirectory ? path : dirname(path);
    const name = basename(path);
    try {
      const watcher = watch(target, { persistent: false, recursive: isDirectory }, (_event, file) => {
        if (isDirectory || file === null || file === name) this.changed();
      });
      watcher.on('error', () => {});
      this.watchers.push(watcher);
    } catch {
      // A folder that does not exist: nothing to see until the next reload.
    }
  }

  private changed(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), this.debounceMs);
    this.timer.unref();
  }

  private check(): void {
    const changed: string[] = [];
    for (const path of this.paths) {
      const digest = contentDigest(path);
      if (digest !== this.digests.get(path)) changed.push(path);
      this.digests.set(path, digest);
    }
    if (changed.length > 0 && !this.closed) this.onChange(changed);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
  }
}
