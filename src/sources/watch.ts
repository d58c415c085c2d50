import { lstatSync, realpathSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Calls `onChange` shortly after the crontab file changes. Folders are watched, not the file:
 * editors that save by writing a new file and renaming it over the old one replace the inode a
 * file watch would be attached to. Events are debounced (an editor's save is several), and the
 * daemon compares content, so a spurious event costs one read.
 *
 * A symlinked crontab is watched in its own folder (where a Kubernetes ConfigMap swaps its
 * `..data` link: any event there counts) and in its target's folder (an in-place edit of the
 * target), and the target is looked up again after every change, since it moves.
 */
export function watchCrontab(path: string, debounceMs: number, onChange: () => void, onError: (error: Error) => void): { close(): void } {
  let timer: NodeJS.Timeout | null = null;
  let target: { real: string; watcher: FSWatcher | null } | null = null;
  const changed = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      followTarget();
      onChange();
    }, debounceMs);
  };
  const open = (folder: string, accept: (file: string | null) => boolean): FSWatcher | null => {
    try {
      const watcher = watch(folder, { persistent: false }, (_event, file) => {
        if (accept(file === null ? null : file.toString())) changed();
      });
      watcher.on('error', onError);
      return watcher;
    } catch (error) {
      onError(error as Error);
      return null;
    }
  };
  const isLink = (): boolean => {
    try {
      return lstatSync(path).isSymbolicLink();
    } catch {
      return false;
    }
  };
  const followTarget = (): void => {
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      return; // missing for now: the folder watch sees it come back
    }
    if (real === target?.real) return;
    target?.watcher?.close();
    target = null;
    // Now a plain file (the link replaced): its own folder's watch covers it.
    if (real === path) return;
    target = { real, watcher: open(dirname(real), (file) => file === null || file === basename(real)) };
  };
  const name = basename(path);
  const own = open(dirname(path), (file) => file === null || file === name || isLink());
  followTarget();
  return {
    close() {
      if (timer !== null) clearTimeout(timer);
      own?.close();
      target?.watcher?.close();
    },
  };
}

/**
 * Calls `onChange` shortly after an entry of `dir` changes: any entry, or only the given names
 * (a cron directory, the folder holding /etc/crontab or /etc/passwd). The daemon looks at what
 * changed itself, so a spurious event costs a scan of unchanged files (a stat each).
 */
export function watchDirectory(dir: string, names: ReadonlySet<string> | null, debounceMs: number, onChange: () => void): { close(): void } {
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dir, { persistent: false }, (_event, file) => {
      if (names !== null && file !== null && !names.has(file.toString())) return;
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
    });
    // A directory removed: the next scan watches it again when it is back.
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = null;
  }
  return {
    close() {
      if (timer !== null) clearTimeout(timer);
      watcher?.close();
    },
  };
}
