import { realpathSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Calls `onChange` shortly after the crontab file changes. The directory is watched, not the
 * file: editors that save by writing a new file and renaming it over the old one replace the
 * inode a file watch would be attached to. Events are debounced (an editor's save is several).
 */
export function watchCrontab(path: string, debounceMs: number, onChange: () => void, onError: (error: Error) => void): { close(): void } {
  let timer: NodeJS.Timeout | null = null;
  const watchers: FSWatcher[] = [];
  const changed = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, debounceMs);
  };
  // A symlinked crontab (a dotfiles checkout, a ConfigMap) changes in its target's folder.
  const targets = [path];
  try {
    const real = realpathSync(path);
    if (real !== path) targets.push(real);
  } catch {
    // missing for now: the folder watch sees it appear
  }
  for (const target of targets) {
    const name = basename(target);
    try {
      const watcher = watch(dirname(target), { persistent: false }, (_event, file) => {
        if (file === null || file.toString() === name) changed();
      });
      watcher.on('error', onError);
      watchers.push(watcher);
    } catch (error) {
      onError(error as Error);
    }
  }
  return {
    close() {
      if (timer !== null) clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
