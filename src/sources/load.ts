import { accountDirectory, type Account } from '../accounts.js';
import { readCrontabText } from './crontab-file.js';
import { cronLayout, findCronTables, readSpoolTable, readSystemTable, type SkippedFile } from './cron-tables.js';
import type { JobSet, JobSource } from './types.js';
import { validateJobSet, type ValidateOptions } from './validate.js';

/** The main crontab as a source: the one of today, whose job ids stay bare. */
export function crontabSource(path: string, name: string, system: boolean): JobSource {
  return { id: '', path, name, system };
}

/**
 * Reads a source (refusing a file that must not be trusted, with its one-line reason) and
 * validates it: start, reload, check and list come here (the daemon through JobSources, which
 * also settles reads). `edit` validates the text in hand with validateJobSet.
 */
export async function loadJobSet(source: JobSource, options: ValidateOptions = {}): Promise<JobSet> {
  return validateJobSet(await readCrontabText(source.path, source.name), source, options);
}

/** One cron table as start would take it: its set (valid or not), or why it is refused. */
export interface TableLoad {
  source: JobSource;
  set: JobSet | null;
  refusal: string | null;
  /** The refusal is only that the spool table's user does not exist (yet): cron skips it too. */
  waiting?: boolean;
}

/**
 * Every cron table under the root, read and validated by the daemon's rules (cron-tables.ts),
 * for `check --cron` and `list --cron`: what start would refuse, these refuse.
 */
export async function loadCronTables(root: string, lookup: (name: string) => Account | null = accountDirectory()): Promise<{ tables: TableLoad[]; skipped: SkippedFile[] }> {
  const { sources, skipped } = findCronTables(cronLayout(root));
  const tables: TableLoad[] = [];
  for (const source of sources) {
    try {
      let text: string;
      if (source.table === 'spool') {
        const owner = lookup(source.owner!);
        if (owner === null) {
          tables.push({ source, set: null, refusal: `${source.name}: skipped: user '${source.owner}' does not exist (the table runs once the user exists)`, waiting: true });
          continue;
        }
        ({ text } = await readSpoolTable(source, owner));
      } else ({ text } = await readSystemTable(source));
      tables.push({ source, set: validateJobSet(text, source, { lookup, knownAccounts: new Map() }), refusal: null });
    } catch (error) {
      tables.push({ source, set: null, refusal: (error as Error).message });
    }
  }
  return { tables, skipped };
}
