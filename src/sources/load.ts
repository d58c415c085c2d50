import { readCrontabText } from './crontab-file.js';
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
