import { homedir, hostname } from 'node:os';
import { safeUserName, type Account } from '../accounts.js';
import type { Entry } from '../crontab/types.js';
import type { RunEventOf, RunSubscriber } from '../events/run-events.js';
import type { Log } from '../log.js';
import type { MailRecord, RunStore } from '../store/types.js';
import { Mailer, type Delivery, type MailerOptions } from './mailer.js';
import { cronEnv, message, recipients, sender } from './message.js';

/**
 * MAILTO, as cron does it, as a run-event subscriber: a run that printed anything is mailed,
 * once it is over, to MAILTO or to the table's user (the user it ran as).
 *
 * - The entry is the one the run was claimed for (a reload meanwhile changes the next run's
 *   mail, not this one's), so it is taken at `claimed` and let go at the run's end.
 * - A retried run is mailed once, after its final attempt, with that attempt's output and
 *   outcome: the history keeps the failed attempts (RUN.N) and their output.
 * - `mail=` decides (crontab/types.ts MailPolicy); services are never mailed.
 * - What became of the mail is logged (a failure as a warning) and recorded with the run
 *   (store.mailed), never awaited by anything that fires.
 */

export interface MailRunsOptions extends MailerOptions {
  log: Log;
  store: Pick<RunStore, 'mailed'>;
  /** The entry a job id stands for now (the scheduler's). */
  entry: (job: string) => Entry | undefined;
  /** Accounts of the users jobs run as (the daemon's, resolved at load). */
  accounts: ReadonlyMap<string, Account>;
  /** The name in the Subject (`Cron <user@HOST> ...`); the machine's. */
  host?: string;
  /** Who runs a job that names no user: schedd's own user. */
  selfUser?: string;
}

export interface MailRuns extends RunSubscriber {
  /** Resolves when every mail handed over so far is done with (tests). */
  idle(): Promise<void>;
  /**
   * For a stop, before the history is closed: waits up to `waitMs` for the mails handed over
   * (the runs that ended as schedd stopped have theirs), then records and logs nothing more: a
   * mailer still running goes on by itself, unrecorded.
   */
  close(waitMs?: number): Promise<void>;
}

/** How long a stop waits for mailers by default (each is stopped at its own 60 s timeout). */
const CLOSE_WAIT_MS = 10_000;

export function mailRuns(options: MailRunsOptions): MailRuns {
  const { log, store } = options;
  const mailer = new Mailer(options);
  const host = options.host ?? hostname();
  const selfUser = options.selfUser ?? safeUserName();
  /** The entry of each run in flight, from its claim to its end. */
  const claimed = new Map<string, Entry>();
  let pending = 0;
  let closed = false;
  let idleWaiters: (() => void)[] = [];

  const settle = (): void => {
    pending--;
    if (pending === 0) {
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    }
  };

  const MESSAGES: Record<MailRecord['status'], string> = {
    sent: 'job output mailed',
    discarded: 'job output discarded: no mailer',
    refused: 'job output not mailed: MAILTO refused',
    failed: 'job mail failed',
    dropped: 'job mail dropped: too many mails waiting',
  };
  const record = (event: RunEventOf<'finished'>, result: MailRecord): void => {
    if (closed) return;
    void store.mailed(event.run, result);
    const fields = { job: event.job, run: event.run, reason: result.detail };
    if (result.status === 'sent' || result.status === 'discarded') log.info(fields, MESSAGES[result.status]);
    else log.warn(fields, MESSAGES[result.status]);
  };

  const finished = (event: RunEventOf<'finished'>): void => {
    if (!event.final || closed) return;
    const entry = claimed.get(event.run) ?? options.entry(event.job);
    claimed.delete(event.run);
    if (entry === undefined || entry.options.service !== undefined) return;
    const { output } = event.result;
    const succeeded = event.record.outcome === 'ok';
    const policy = entry.options.mail;
    const wanted = policy === 'never' ? false : policy === 'always' ? true : policy === 'on-failure' ? !succeeded : output.bytes > 0;
    if (!wanted) return;
    const userName = entry.user ?? entry.options.user;
    const account = userName === undefined ? undefined : options.accounts.get(userName);
    const user = account?.name ?? userName ?? selfUser;
    const to = recipients(entry.env.MAILTO, user);
    if (to.kind === 'silent') return;
    if (to.kind === 'refused') {
      record(event, { status: 'refused', detail: to.why });
      return;
    }
    const from = sender(entry.env.MAILFROM);
    if (from.refused !== undefined) log.warn({ job: event.job, run: event.run, reason: from.refused }, 'job mail: MAILFROM refused');
    const text = message({
      user,
      host,
      command: entry.command,
      env: cronEnv(entry.env, user, account?.home ?? homedir()),
      from: from.from,
      to: to.header,
      job: event.job,
      run: event.run,
      outcome: outcomeText(event.record.outcome, event.record.exitCode, event.record.signal),
      output,
    });
    const delivery: Delivery = { recipients: to.addresses, message: text, ...(account === undefined ? {} : { account }) };
    pending++;
    void mailer.send(delivery).then((result) => {
      record(event, { status: result.status, detail: result.status === 'sent' ? `to ${to.header}` : `${result.why} (to ${to.header})` });
      settle();
    });
  };

  const idle = (): Promise<void> => (pending === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve)));

  return {
    claimed: (event) => {
      const entry = options.entry(event.job);
      if (entry !== undefined) claimed.set(event.run, entry);
    },
    finished,
    cancelled: (event) => void claimed.delete(event.run),
    idle,
    close: async (waitMs = CLOSE_WAIT_MS) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
      closed = true;
    },
  };
}

function outcomeText(outcome: string, exitCode: number | null, signal: string | null): string {
  if (exitCode !== null && outcome !== 'ok') return `${outcome} (exit ${exitCode})`;
  if (signal !== null) return `${outcome} (${signal})`;
  return outcome;
}
