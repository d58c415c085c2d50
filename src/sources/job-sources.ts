import { statSync } from 'node:fs';
import type { Log } from '../log.js';
import { readCrontabText } from './crontab-file.js';
import { loadJobSet } from './load.js';
import { mergeJobSets } from './merge.js';
import type { JobSet, JobSource, LoadedJobs } from './types.js';
import { validateJobSet, type ValidateOptions } from './validate.js';
import { watchCrontab } from './watch.js';

/** How long a crontab that looks cut short (empty, or no final newline) is left to settle. */
const INCOMPLETE_SETTLE_MS = 200;

/** How many settle reads a source gets before what was read is taken as meant. */
const SETTLE_TRIES = 5;

export interface JobSourcesOptions {
  log: Log;
  /** Debounce of file-change events before `onChange`. */
  watchDebounceMs: number;
}

/**
 * The daemon's job sources: reads them (again while one looks cut short), validates them into
 * one set of jobs, remembers the text last applied, and watches the files. What to do with the
 * jobs (schedule them, log the diff) is the daemon's.
 */
export class JobSources {
  /** The text of each source that the daemon last applied; absent before the first. */
  private readonly appliedText = new Map<JobSource, string>();
  private watchers: { close(): void }[] = [];

  constructor(
    readonly list: readonly JobSource[],
    private readonly options: JobSourcesOptions,
  ) {}

  /** The first load (start): each source read once; throws when one cannot be read or trusted. */
  async load(validate: ValidateOptions = {}): Promise<LoadedJobs> {
    const sets: JobSet[] = [];
    for (const source of this.list) sets.push(await loadJobSet(source, validate));
    return mergeJobSets(sets);
  }

  /**
   * A reload: every source read (settled), then validated; null when no text changed since the
   * last applied. Throws when a source cannot be read or trusted.
   */
  async reload(reason: string, validate: ValidateOptions = {}): Promise<LoadedJobs | null> {
    const texts: string[] = [];
    for (const source of this.list) texts.push(await this.readSettled(source, reason));
    if (this.list.every((source, i) => this.appliedText.get(source) === texts[i])) return null;
    return mergeJobSets(this.list.map((source, i) => validateJobSet(texts[i]!, source, validate)));
  }

  /** The daemon applied these jobs: their texts are now the ones a reload compares with. */
  applied(jobs: LoadedJobs): void {
    for (const set of jobs.sets) this.appliedText.set(set.source, set.text);
  }

  /** Calls `onChange` shortly after a source's file changes (see watchCrontab). */
  watch(onChange: () => void): void {
    for (const source of this.list) {
      this.watchers.push(watchCrontab(source.path, this.options.watchDebounceMs, onChange, (error) => this.options.log.error({ err: error }, 'cannot watch the crontab; reload with SIGHUP')));
    }
  }

  close(): void {
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }

  /**
   * The source's text, read again while it looks cut short: a file rewritten in place is empty
   * (or ends mid-line) between the writer's truncate and its write, and applying that read would
   * drop every job until the next reload. Two reads that agree, INCOMPLETE_SETTLE_MS apart, are
   * taken as meant (an emptied crontab is applied, a little later).
   */
  private async readSettled(source: JobSource, reason: string): Promise<string> {
    const applied = this.appliedText.get(source);
    let text = await readCrontabText(source.path, source.name);
    let changedAt = modifiedNs(source.path);
    for (let tries = 0; tries < SETTLE_TRIES && text !== applied && (text === '' || !text.endsWith('\n')); tries++) {
      this.options.log.info({ reason, delayMs: INCOMPLETE_SETTLE_MS }, `crontab looks incomplete (${text === '' ? 'empty' : 'no final newline'}); reading it again`);
      await new Promise((settle) => setTimeout(settle, INCOMPLETE_SETTLE_MS));
      const again = await readCrontabText(source.path, source.name);
      const againAt = modifiedNs(source.path);
      // The same text is settled only if the file was not written meanwhile: two truncates of a
      // file rewritten in place again and again both read empty, and are not what was meant.
      if (again === text && againAt === changedAt) break;
      text = again;
      changedAt = againAt;
    }
    return text;
  }
}

/** When the file was last written (ns), or null when it cannot be told. */
function modifiedNs(path: string): bigint | null {
  try {
    return statSync(path, { bigint: true }).mtimeNs;
  } catch {
    return null;
  }
}
