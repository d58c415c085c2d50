// The crontabs of the reload storm: many versions of one set of jobs that keep their ids, some
// jobs coming and going, and invalid files made from valid ones by one bad line.
import { parseCrontab } from '../../src/crontab/parse.js';
import { ledgerCommand } from './ledger.js';

/** How long the two long jobs run: they start before the storm and must outlive it undisturbed. */
export const LONG_S = 40;

export interface JobSpec {
  id: string;
  schedule: string;
  /** As written in the file (`%` escaped). */
  command: string;
}

export interface Version {
  text: string;
  jobs: JobSpec[];
}

const EXTRAS = ['extra-0', 'extra-1', 'extra-2'];

/** Version `n`: same ids for the core jobs, their lines varying; extras present at random. */
export function makeVersion(n: number, ledger: string, random: () => number): Version {
  const jobs: (JobSpec & { options?: string })[] = [
    // Always present, changing its command now and then: must fire every second throughout.
    { id: 'tick', schedule: '* * * * * *', command: ledgerCommand(ledger, random() < 0.5 ? 'true' : `: v${n}`) },
    // Started at the first slot, then every slot is skipped while it runs; its line changes.
    { id: 'long-tick', schedule: '* * * * * *', command: `${ledgerCommand(ledger, `sleep ${LONG_S}`)} # v${n}`, options: ' overlap=skip' },
    { id: 'long-boot', schedule: '@reboot', command: ledgerCommand(ledger, `sleep ${LONG_S}`) },
    // Retimed back and forth: rescheduled on each change, never onto a slot it already had.
    { id: 'retimed', schedule: random() < 0.5 ? '* * * * * *' : '*/2 * * * * *', command: ledgerCommand(ledger, 'true') },
    ...EXTRAS.filter(() => random() < 0.5).map((id) => ({ id, schedule: '* * * * * *', command: ledgerCommand(ledger, 'true') })),
  ];
  const env = random() < 0.3 ? `STORM=${n}\n` : '';
  const text = env + jobs.map((job) => `# schedd: name=${job.id}${job.options ?? ''}\n${job.schedule} ${job.command}\n`).join('');
  assertValidity(text, true);
  return { text, jobs: jobs.map(({ id, schedule, command }) => ({ id, schedule, command })) };
}

const BAD_LINES = [
  '61 * * * * * true',
  '* * * * bogus true',
  'this is not a crontab line',
  '# schedd: name=bad overlap=sometimes\n* * * * * true',
  // A second job named tick.
  '# schedd: name=tick\n*/5 * * * * true',
];

/** A valid text made invalid by one bad line, at its start or its end. */
export function invalidate(text: string, random: () => number): string {
  const bad = BAD_LINES[Math.floor(random() * BAD_LINES.length)]!;
  const invalid = random() < 0.5 ? `${bad}\n${text}` : `${text}${bad}\n`;
  assertValidity(invalid, false);
  return invalid;
}

/** The storm's bookkeeping of valid and invalid files must itself be right. */
function assertValidity(text: string, valid: boolean): void {
  const errors = parseCrontab(text, { system: false }).diagnostics.filter((d) => d.severity === 'error');
  if ((errors.length === 0) !== valid) throw new Error(`expected a${valid ? ' valid' : 'n invalid'} crontab, got ${errors.length} errors:\n${text}`);
}
