// Reads what a real MTA delivered: the mbox files in /var/mail (exim4 with Debian's `local`
// configuration delivers each user's mail to /var/mail/USER).
import { accessSync, constants, readFileSync } from 'node:fs';
import { waitUntil } from '../helpers/wait.js';

export const SENDMAIL = '/usr/sbin/sendmail';
const SPOOL = '/var/mail';

/**
 * Why the tests through a real MTA cannot run here, or false. Without one they are skipped
 * with this message, except in CI (CI set), where they run and fail: CI installs exim4.
 */
export function mtaMissing(): string | false {
  try {
    accessSync(SENDMAIL, constants.X_OK);
    accessSync(SPOOL, constants.W_OK);
    return false;
  } catch {
    return process.env.CI ? false : `no MTA here (${SENDMAIL}, ${SPOOL}): apt-get install exim4-daemon-light to run these`;
  }
}

export interface Mail {
  /** Headers in order, continuation lines unfolded. */
  headers: [string, string][];
  body: string;
  header(name: string): string | undefined;
  all(name: string): string[];
}

function parse(text: string): Mail {
  const split = text.indexOf('\n\n');
  const head = split === -1 ? text : text.slice(0, split);
  // The mbox's separator line is not a header; exim ends each message with one blank line.
  const body = split === -1 ? '' : text.slice(split + 2).replace(/\n$/, '');
  const headers: [string, string][] = [];
  for (const line of head.split('\n').slice(1)) {
    if (/^[ \t]/.test(line) && headers.length > 0) headers[headers.length - 1]![1] += ` ${line.trim()}`;
    else {
      const colon = line.indexOf(':');
      headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
  }
  const all = (name: string): string[] => headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  return { headers, body, all, header: (name) => all(name)[0] };
}

/** Every message in USER's mailbox (none when it does not exist yet). */
export function mailbox(user: string): Mail[] {
  let text: string;
  try {
    text = readFileSync(`${SPOOL}/${user}`, 'utf8');
  } catch {
    return [];
  }
  return text
    .split(/^(?=From \S+ +\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$)/m)
    .filter((part) => part.startsWith('From '))
    .map(parse);
}

/** The message of run `run` in USER's mailbox, waited for with a deadline. */
export function waitForMail(user: string, run: string, timeoutMs = 15_000): Promise<Mail> {
  return waitUntil(`the mail of run ${run} in ${SPOOL}/${user}`, () => mailbox(user).find((mail) => mail.header('X-Schedd-Run') === run), timeoutMs, 50);
}

/** The messages of job `job` in USER's mailbox. */
export function mailsOf(user: string, job: string): Mail[] {
  return mailbox(user).filter((mail) => mail.header('X-Schedd-Job') === job);
}
