import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Calls `onChange` shortly after the crontab file changes. The directory is watched, not the
 * file: editors that save by writing a new file and renaming it over the old one replace the
 * inode a file watch would be attached to. Events are debounced (an editor's save is several).
 */
export function watchCrontab(path: string, debounceMs: number, onChange: () => void, onError: (error: Error) => void): { close(): void } {
  const name = basename(path);
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      if (file !== null && file.toString() !== name) return;
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
    });
    watcher.on('error', onError);
  } catch (error) {
    onError(error as Error);
  }
  return {
    close() {
      if (timer !== null) clearTimeout(timer);
      watcher?.close();
    },
  };
}
