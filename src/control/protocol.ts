/**
 * The control protocol: newline-delimited JSON over a Unix socket. One request per line, one
 * reply per request, in order. Pure: no sockets here, so every malformed input is unit-tested.
 *
 *   request:  {"id": 1, "cmd": "status"}            (id optional, echoed back)
 *   reply:    {"id": 1, "ok": true, "result": {...}}
 *             {"id": 1, "ok": false, "error": {"code": "SCHEDD_BAD_REQUEST", "message": "..."}}
 */

import { SERVICE_ACTIONS, type CommandName, type CommandRequest, type ServiceAction } from './commands.js';

export const MAX_REQUEST_BYTES = 64 * 1024;

export const COMMANDS = ['status', 'list', 'run', 'reload', 'reopen-log', 'stop', 'ping', 'services', 'service'] as const satisfies readonly CommandName[];
export type Command = (typeof COMMANDS)[number];
// A command added to the map (commands.ts) but not to COMMANDS fails to compile here.
const everyCommandAccepted: [Exclude<CommandName, Command>] extends [never] ? true : never = true;
void everyCommandAccepted;

/** One command's request: its name, the id to echo, and the command's own fields. */
export type RequestOf<C extends Command> = { id?: string | number; cmd: C } & CommandRequest<C>;
export type Request = { [C in Command]: RequestOf<C> }[Command];

export interface ErrorBody {
  code: string;
  message: string;
}

export type Reply = { id?: string | number; ok: true; result: unknown } | { id?: string | number; ok: false; error: ErrorBody };

export type Parsed = { ok: true; request: Request } | { ok: false; reply: Reply };

function fail(code: string, message: string, id?: string | number): Parsed {
  return { ok: false, reply: id === undefined ? { ok: false, error: { code, message } } : { id, ok: false, error: { code, message } } };
}

/** One request line (without its newline) to a request, or to the error reply it deserves. */
export function parseRequest(line: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return fail('SCHEDD_BAD_JSON', `malformed JSON: ${(error as Error).message} (expected one JSON object per line)`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('SCHEDD_BAD_REQUEST', `expected a JSON object such as {"cmd":"status"}, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  }
  const object = value as Record<string, unknown>;
  const rawId = object.id;
  const id = typeof rawId === 'string' || typeof rawId === 'number' ? rawId : undefined;
  if (rawId !== undefined && id === undefined) return fail('SCHEDD_BAD_REQUEST', "'id' must be a string or a number");
  if (typeof object.cmd !== 'string') return fail('SCHEDD_BAD_REQUEST', `missing 'cmd' (expected one of ${COMMANDS.join(', ')})`, id);
  if (!(COMMANDS as readonly string[]).includes(object.cmd)) {
    return fail('SCHEDD_UNKNOWN_COMMAND', `unknown command '${object.cmd.slice(0, 64)}' (expected one of ${COMMANDS.join(', ')})`, id);
  }
  const cmd = object.cmd as Command;
  let request: Request;
  if (cmd === 'run') {
    if (typeof object.job !== 'string' || object.job === '') return fail('SCHEDD_BAD_REQUEST', "'run' needs 'job', the id of a job (see schedd list)", id);
    request = { cmd, job: object.job };
  } else if (cmd === 'service') {
    const { action, name, instance, signal } = object;
    if (typeof action !== 'string' || !(SERVICE_ACTIONS as readonly string[]).includes(action)) return fail('SCHEDD_BAD_REQUEST', `'service' needs 'action', one of ${SERVICE_ACTIONS.join(', ')}`, id);
    if (typeof name !== 'string' || name === '') return fail('SCHEDD_BAD_REQUEST', "'service' needs 'name', the id of a service (see schedd services)", id);
    if (instance !== undefined && (typeof instance !== 'number' || !Number.isInteger(instance) || instance < 0 || instance > 999)) return fail('SCHEDD_BAD_REQUEST', "'instance' must be an integer 0-999 (expected an instance number, see schedd services)", id);
    if (action === 'signal' && (typeof signal !== 'string' || signalName(signal) === null)) return fail('SCHEDD_BAD_REQUEST', `'signal' needs 'signal', a signal name such as USR1 or SIGUSR1`, id);
    if (action !== 'signal' && signal !== undefined) return fail('SCHEDD_BAD_REQUEST', `'signal' is only for action 'signal'`, id);
    request = { cmd, action: action as ServiceAction, name, ...(instance === undefined ? {} : { instance: instance as number }), ...(action === 'signal' ? { signal: signalName(signal as string)! } : {}) };
  } else {
    request = { cmd };
  }
  if (id !== undefined) request.id = id;
  return { ok: true, request };
}

/** Signals a client may have a service sent, by name (the ones a process can be asked to handle). */
const SIGNALS = ['HUP', 'INT', 'QUIT', 'TERM', 'KILL', 'USR1', 'USR2', 'ALRM', 'CONT', 'STOP', 'TSTP', 'TTIN', 'TTOU', 'WINCH', 'PWR', 'URG', 'IO'] as const;

/** `usr1`, `USR1` or `SIGUSR1` as `SIGUSR1`; null for anything else. */
export function signalName(text: string): NodeJS.Signals | null {
  const bare = text.toUpperCase().replace(/^SIG/, '');
  return (SIGNALS as readonly string[]).includes(bare) ? (`SIG${bare}` as NodeJS.Signals) : null;
}

/** Which request a reply answers: only its id is echoed (the loose form lets tests spell any request). */
type Answered = Request | { id?: string | number; cmd: Command };

export function okReply(request: Answered, result: unknown): Reply {
  return request.id === undefined ? { ok: true, result } : { id: request.id, ok: true, result };
}

export function errorReply(request: Answered, code: string, message: string): Reply {
  return request.id === undefined ? { ok: false, error: { code, message } } : { id: request.id, ok: false, error: { code, message } };
}

export function encode(reply: Reply): string {
  return `${JSON.stringify(reply)}\n`;
}

/**
 * Splits a byte stream into request lines, refusing any line over MAX_REQUEST_BYTES without
 * buffering it: a client that sends a gigabyte without a newline costs at most the limit.
 */
export class LineReader {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** After 'too-long': the complete lines of that chunk before the oversized one (still owed replies). */
  linesBeforeOverflow: string[] = [];

  /** Returns the complete lines in this chunk, or 'too-long' once the limit is passed. */
  push(chunk: Buffer): string[] | 'too-long' {
    const lines: string[] = [];
    this.linesBeforeOverflow = lines;
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline >= 0; newline = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, newline);
      if (this.bufferedBytes + part.length > MAX_REQUEST_BYTES) return 'too-long';
      this.buffered.push(part);
      lines.push(Buffer.concat(this.buffered).toString('utf8').replace(/\r$/, ''));
      this.buffered = [];
      this.bufferedBytes = 0;
      start = newline + 1;
    }
    const rest = chunk.subarray(start);
    if (this.bufferedBytes + rest.length > MAX_REQUEST_BYTES) return 'too-long';
    if (rest.length > 0) {
      this.buffered.push(Buffer.from(rest));
      this.bufferedBytes += rest.length;
    }
    return lines;
  }
}
