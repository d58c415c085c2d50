import type { Account } from '../accounts.js';
import type { Entry } from '../crontab/types.js';
import type { JobSet, LoadedJobs } from './types.js';

/**
 * The sets of several sources as one: ids must be unique across them (history and `schedd run`
 * name a job by its id alone). The main source's ids are bare and the others' carry their
 * source's id (`SOURCEID:LOCALID`), so only two sources with one id can clash; the later entry
 * is then an error that names where the id was taken.
 */
export function mergeJobSets(sets: readonly JobSet[]): LoadedJobs {
  if (sets.length === 1) {
    const [set] = sets as [JobSet];
    return { sets, entries: set.entries, errors: set.errors, errorCount: set.errorCount, accounts: set.accounts };
  }
  const entries: Entry[] = [];
  const errors: string[] = [];
  const clashes: string[] = [];
  const accounts = new Map<string, Account>();
  const taken = new Map<string, string>();
  let errorCount = 0;
  for (const set of sets) {
    errors.push(...set.errors);
    errorCount += set.errorCount;
    for (const [name, account] of set.accounts) accounts.set(name, account);
    for (const entry of set.entries) {
      const first = taken.get(entry.id);
      if (first !== undefined) {
        clashes.push(`${set.source.name}:${entry.line}:1: job id '${entry.id}' is already used by ${first} (expected ids unique across job sources)`);
        continue;
      }
      taken.set(entry.id, `${set.source.name}:${entry.line}`);
      entries.push(entry);
    }
  }
  errors.push(...clashes);
  return { sets, entries, errors, errorCount: errorCount + clashes.length, accounts };
}
