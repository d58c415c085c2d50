/**
 * A run's mail, as Debian's cron writes it (do_command.c of cron 3.0pl1-162): who it goes to,
 * its headers and its body. Pure: no process, no file.
 *
 * Cron's headers, in its order: From (MAILFROM, else `root (Cron Daemon)`), To (MAILTO as
 * written), `Subject: Cron <user@host> command`, MIME-Version, Content-Type (CONTENT_TYPE from
 * the table, else text/plain with the charset), Content-Transfer-Encoding (CONTENT_TRANSFER_ENCODING,
 * else 8bit), then one `X-Cron-Env: <NAME=value>` per variable of the entry's environment. schedd
 * adds Auto-Submitted and Precedence (cronie's and the RFC 3834 way to stop auto-replies to
 * auto-generated mail) and its own X-Schedd-Job, X-Schedd-Run, X-Schedd-Outcome.
 *
 * The crontab's author may be a local user (a spool table): every header value has its control
 * characters (CR and LF above all) replaced, so no value can start a header of its own, and is
 * cut to fit one line; addresses pass cron's safe_p (letters and digits, then only
 * `@!:%-.,_+=/`), so none can be taken for a sendmail option.
 */

/** The argv Debian's cron gives sendmail before the recipients (MAILARGS in its config.h). */
export const SENDMAIL_ARGS: readonly string[] = ['-FCronDaemon', '-i', '-B8BITMIME', '-oem'];

export const DEFAULT_FROM = 'root (Cron Daemon)';
/** Our output is decoded as UTF-8 (invalid bytes as U+FFFD), so it is UTF-8 that is sent. */
export const CHARSET = 'UTF-8';
/** RFC 5322's limit on a line is 998 characters; a header value is cut well below it. */
const MAX_HEADER_VALUE = 900;
/** X-Cron-Env lines at most: a table of 100,000 variables must not make a message of them. */
const MAX_ENV_HEADERS = 200;
/** More recipients than this is a mistake, not a mailing list. */
const MAX_RECIPIENTS = 20;
/** cron's safe_p: a letter or digit first, then also these. */
const SAFE = /^[A-Za-z0-9][A-Za-z0-9@!:%\-.,_+=/]*$/;

/** Who gets a run's mail: the addresses, or why none (MAILTO="" is `silent`, not refused). */
export type Recipients = { kind: 'to'; addresses: string[]; header: string } | { kind: 'silent' } | { kind: 'refused'; why: string };

/**
 * MAILTO as cron reads it: unset, the table's user; empty, no mail; else a comma-separated
 * list, every address passing safe_p (cron refuses the whole MAILTO when one character is
 * unsafe, and so does this: a space, a control character, a leading `-`).
 */
export function recipients(mailto: string | undefined, user: string): Recipients {
  if (mailto === undefined) return SAFE.test(user) ? { kind: 'to', addresses: [user], header: user } : { kind: 'refused', why: `user name ${quote(user)} is not a safe address` };
  if (mailto === '') return { kind: 'silent' };
  const addresses = mailto.split(',');
  if (addresses.length > MAX_RECIPIENTS) return { kind: 'refused', why: `MAILTO has ${addresses.length} addresses (at most ${MAX_RECIPIENTS})` };
  const bad = addresses.find((address) => !SAFE.test(address));
  if (bad !== undefined) {
    return { kind: 'refused', why: `MAILTO address ${quote(bad)} is unsafe (expected letters or digits first, then only letters, digits and @!:%-.,_+=/)` };
  }
  return { kind: 'to', addresses, header: mailto };
}

/** MAILFROM as cron takes it: when unset, empty or unsafe, the default sender. */
export function sender(mailfrom: string | undefined): { from: string; refused?: string } {
  if (mailfrom === undefined || mailfrom === '') return { from: DEFAULT_FROM };
  if (!SAFE.test(mailfrom)) return { from: DEFAULT_FROM, refused: `MAILFROM ${quote(mailfrom)} is unsafe: mailed from ${DEFAULT_FROM}` };
  return { from: mailfrom };
}

/** A header value on one line: control characters (CR, LF, tab, escapes, C1) become spaces; cut to fit. */
export function headerValue(text: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
  return flat.length <= MAX_HEADER_VALUE ? flat : `${flat.slice(0, MAX_HEADER_VALUE)}...`;
}

/** A run's output as the runner kept it: the first and the last bytes of it. */
export interface MailOutput {
  head: string;
  tail: string;
  bytes: number;
  truncated: boolean;
}

/** The body: all of the output, or its head and tail with a line that says how much was cut between. */
export function body(output: MailOutput): string {
  if (output.bytes === 0) return '(no output)\n';
  if (!output.truncated) return output.head + output.tail;
  const kept = Buffer.byteLength(output.head) + Buffer.byteLength(output.tail);
  const cut = Math.max(0, output.bytes - kept);
  const lineEnd = output.head.endsWith('\n') ? '' : '\n';
  return `${output.head}${lineEnd}\n[schedd: ${cut} bytes of output cut here; the job printed ${output.bytes} bytes, this mail holds the first ${Buffer.byteLength(output.head)} and the last ${Buffer.byteLength(output.tail)}]\n\n${output.tail}`;
}

export interface MailInput {
  /** The user the job ran as (cron's LOGNAME). */
  user: string;
  /** The machine's name; cron puts its first label in the Subject. */
  host: string;
  /** The command as the entry runs it (cron's e->cmd: before `%`, escapes undone). */
  command: string;
  /** The variables cron lists in X-Cron-Env, in its order (see cronEnv). */
  env: readonly (readonly [string, string])[];
  from: string;
  to: string;
  job: string;
  run: string;
  /** `ok`, `failed (exit 1)`, `timeout`, ... */
  outcome: string;
  output: MailOutput;
}

/** The whole message, headers and body, LF line ends (sendmail -i makes them the wire's). */
export function message(input: MailInput): string {
  const vars = new Map(input.env);
  const headers: [string, string][] = [
    ['From', input.from],
    ['To', input.to],
    ['Subject', `Cron <${input.user}@${input.host.split('.')[0]}> ${input.command}`],
    ['MIME-Version', '1.0'],
    ['Content-Type', vars.get('CONTENT_TYPE') ?? `text/plain; charset=${CHARSET}`],
    ['Content-Transfer-Encoding', vars.get('CONTENT_TRANSFER_ENCODING') ?? '8bit'],
    ['Auto-Submitted', 'auto-generated'],
    ['Precedence', 'bulk'],
    ...input.env.slice(0, MAX_ENV_HEADERS).map(([name, value]): [string, string] => ['X-Cron-Env', `<${name}=${value}>`]),
    ...(input.env.length > MAX_ENV_HEADERS ? [['X-Cron-Env', `<... ${input.env.length - MAX_ENV_HEADERS} more variables not listed>`] as [string, string]] : []),
    ['X-Schedd-Job', input.job],
    ['X-Schedd-Run', input.run],
    ['X-Schedd-Outcome', input.outcome],
  ];
  return `${headers.map(([name, value]) => `${name}: ${headerValue(value)}\n`).join('')}\n${body(input.output)}`;
}

/**
 * The environment cron lists for an entry: the table's variables in effect, in order, then
 * SHELL, HOME and PATH when the table does not set them, and LOGNAME and USER (cron's
 * load_entry appends them in that order; a job of schedd gets the same).
 */
export function cronEnv(tableEnv: Readonly<Record<string, string>>, user: string, home: string): [string, string][] {
  const env: [string, string][] = Object.entries(tableEnv);
  const defaults: [string, string][] = [
    ['SHELL', '/bin/sh'],
    ['HOME', home],
    ['PATH', '/usr/bin:/bin'],
    ['LOGNAME', user],
    ['USER', user],
  ];
  for (const [name, value] of defaults) if (!(name in tableEnv)) env.push([name, value]);
  return env;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}
