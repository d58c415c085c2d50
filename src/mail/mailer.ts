import { accessSync, constants } from 'node:fs';
import { safeUserName } from '../accounts.js';
import { formatDuration } from '../crontab/duration.js';
import { startRun, type RunResult, type RunSpec } from '../runner/index.js';
import { SENDMAIL_ARGS } from './message.js';

/**
 * Hands messages to sendmail, off the firing path: at most `maxConcurrent` mailers at once, the
 * rest queued (at most `maxQueued`, then refused), each mailer stopped after `timeoutMs`.
 *
 * A mailer runs as the job's user (uid, gid and supplementary groups, through the runner and
 * its setpriv), as Debian's cron_popen does: the crontab's author only ever sends mail as
 * themselves, whatever MAILTO, MAILFROM or their output say. Its environment is a minimal
 * one of that user's, not the job's (which the table's author wrote). Sendmail's exit status
 * says whether the message was accepted; an MTA that forks its delivery (exim's default) has
 * then queued it, and the delivery process it leaves behind is not waited for.
 */

export interface Delivery {
  /** sendmail's argv after the options: addresses that passed message.ts's recipients(). */
  recipients: readonly string[];
  message: string;
  /** Who the mailer runs as; absent: as schedd runs. */
  account?: { name: string; uid: number; gid: number; home: string };
}

export type DeliveryResult =
  | { status: 'sent' }
  | { status: 'failed'; why: string }
  /** No sendmail at the path: cron says "No MTA installed, discarding output". */
  | { status: 'discarded'; why: string }
  /** The queue was full: more mail than the mailers could hand over. */
  | { status: 'dropped'; why: string };

export interface MailerOptions {
  sendmail: string;
  maxConcurrent?: number;
  maxQueued?: number;
  timeoutMs?: number;
}

const DEFAULTS = { maxConcurrent: 4, maxQueued: 200, timeoutMs: 60_000 };
/** What of sendmail's own output a failure quotes. */
const MAX_WHY = 300;

export class Mailer {
  private readonly queue: { delivery: Delivery; done: (result: DeliveryResult) => void }[] = [];
  private active = 0;
  private readonly options: Required<MailerOptions>;

  constructor(options: MailerOptions) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Resolves with what became of the message; never rejects. */
  send(delivery: Delivery): Promise<DeliveryResult> {
    if (!isExecutable(this.options.sendmail)) return Promise.resolve({ status: 'discarded', why: `no mailer at ${this.options.sendmail}` });
    if (this.queue.length >= this.options.maxQueued) {
      return Promise.resolve({ status: 'dropped', why: `${this.queue.length} messages already wait for a mailer (${this.options.maxConcurrent} at once)` });
    }
    return new Promise((done) => {
      this.queue.push({ delivery, done });
      this.next();
    });
  }

  private next(): void {
    while (this.active < this.options.maxConcurrent && this.queue.length > 0) {
      const { delivery, done } = this.queue.shift()!;
      this.active++;
      void this.hand(delivery).then((result) => {
        this.active--;
        done(result);
        this.next();
      });
    }
  }

  private async hand(delivery: Delivery): Promise<DeliveryResult> {
    const { account } = delivery;
    const name = account?.name ?? safeUserName();
    const spec: RunSpec = {
      // Every word quoted: the recipients passed safe_p, the path is root's own configuration.
      command: `exec ${[this.options.sendmail, ...SENDMAIL_ARGS, ...delivery.recipients].map(shellQuote).join(' ')}`,
      shell: '/bin/sh',
      stdin: delivery.message,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: account?.home ?? process.env.HOME ?? '/', LOGNAME: name, USER: name, SHELL: '/bin/sh' },
      cwd: '/',
      timeoutMs: this.options.timeoutMs,
      killGraceMs: 1000,
      ...(account === undefined ? {} : { account: { name: account.name, uid: account.uid, gid: account.gid } }),
    };
    let result: RunResult;
    try {
      result = await startRun(spec, {}, { headBytes: 4096, tailBytes: 0, maxEmittedBytes: 0, drainGraceMs: 100 }).done;
    } catch (error) {
      return { status: 'failed', why: `cannot start ${this.options.sendmail}: ${(error as Error).message}` };
    }
    if (result.outcome === 'ok') return { status: 'sent' };
    return { status: 'failed', why: failure(this.options.sendmail, result, this.options.timeoutMs) };
  }
}

function failure(sendmail: string, result: RunResult, timeoutMs: number): string {
  const said = result.output.head.replace(/\s+/g, ' ').trim();
  const quoted = said === '' ? '' : `: ${JSON.stringify(said.length > MAX_WHY ? `${said.slice(0, MAX_WHY)}...` : said)}`;
  if (result.outcome === 'failed') return `${sendmail} exited ${result.exitCode}${quoted}`;
  if (result.outcome === 'timeout') return `${sendmail} did not finish within ${formatDuration(timeoutMs)}${quoted}`;
  if (result.outcome === 'killed') return `${sendmail} was ${result.reason ?? 'killed'}${quoted}`;
  return `${result.reason ?? `${sendmail} could not start`}${quoted}`;
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
