import { createHash } from 'node:crypto';

/**
 * The users' crontab socket (`crontab.sock`): one request per connection, newline-delimited
 * JSON. Pure: no sockets or files here, so every malformed message is unit-tested.
 *
 *   server:  {"v":1,"nonce":"<64 hex>"}                       on connect
 *   client:  {"op":"list"|"install"|"remove","cronRoot":"/","proof":"/tmp/D/F","name":"-","text":"..."}
 *   server:  {"ok":true,"result":{...}} | {"ok":false,"error":{"code":"...","message":"..."}}
 *
 * Who the client is comes from the proof file (see proof.ts), whose content binds the nonce to
 * this very request (proofText): a proof relayed to the daemon by someone else can only carry
 * the request its owner meant.
 */

export const PROTOCOL_VERSION = 1;
/**
 * A table sent over the socket. Users' tables are a few lines, and the daemon validates what
 * anyone sends in its own event loop: the bound is on what one request can cost it.
 */
export const MAX_TABLE_BYTES = 64 * 1024;
/** The request line: a table of MAX_TABLE_BYTES, JSON-escaped (6 bytes a control character at worst), fits. */
export const MAX_REQUEST_BYTES = 512 * 1024;
/** A reply the client accepts: a table listed, or every error of one. */
export const MAX_REPLY_BYTES = 8 * 1024 * 1024;
export const MAX_NAME_CHARS = 256;
export const MAX_PROOF_PATH_CHARS = 256;

export const OPS = ['list', 'install', 'remove'] as const;
export type Op = (typeof OPS)[number];

export interface Hello {
  v: number;
  nonce: string;
}

export interface CrontabRequest {
  op: Op;
  /** The cron root the client means; the daemon refuses a request for another. */
  cronRoot: string;
  /** Absolute path of the proof file (see proof.ts). */
  proof: string;
  /** How the table is named in messages (install). */
  name?: string;
  text?: string;
}

export interface ListResult {
  user: string;
  /** null: the user has no table. */
  text: string | null;
}

export interface InstallResult {
  user: string;
  installed: boolean;
  jobs: number;
  /** Formatted `NAME:LINE:COL: ...`, every error kept (the first of a flood, counted in errorCount). */
  errors: string[];
  errorCount: number;
  warnings: string[];
}

export interface RemoveResult {
  user: string;
  removed: boolean;
}

export interface ErrorBody {
  code: string;
  message: string;
}

export type Reply<T> = { ok: true; result: T } | { ok: false; error: ErrorBody };

/** What the proof file must hold for this request on this connection. */
export function proofText(nonce: string, request: Omit<CrontabRequest, 'proof'>): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([request.op, request.cronRoot, request.name ?? null, request.text ?? null]))
    .digest('hex');
  return `schedd-crontab-proof/${PROTOCOL_VERSION} ${nonce} ${digest}\n`;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

function parseObject(line: string): Parsed<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { ok: false, message: `malformed JSON: ${(error as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, message: 'expected a JSON object' };
  return { ok: true, value: value as Record<string, unknown> };
}

export function parseHello(line: string): Parsed<Hello> {
  const parsed = parseObject(line);
  if (!parsed.ok) return parsed;
  const { v, nonce } = parsed.value;
  if (v !== PROTOCOL_VERSION) return { ok: false, message: `protocol version ${String(v)} (expected ${PROTOCOL_VERSION}: is the daemon another schedd version?)` };
  if (typeof nonce !== 'string' || !/^[0-9a-f]{64}$/.test(nonce)) return { ok: false, message: 'no nonce in the greeting' };
  return { ok: true, value: { v, nonce } };
}

export function parseRequest(line: string): Parsed<CrontabRequest> {
  const parsed = parseObject(line);
  if (!parsed.ok) return parsed;
  const { op, cronRoot, proof, name, text } = parsed.value;
  if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) return { ok: false, message: `'op' must be one of ${OPS.join(', ')}` };
  if (typeof cronRoot !== 'string' || !cronRoot.startsWith('/') || cronRoot.length > 4096 || cronRoot.includes('\0')) return { ok: false, message: "'cronRoot' must be an absolute path" };
  if (typeof proof !== 'string' || !proof.startsWith('/') || proof.length > MAX_PROOF_PATH_CHARS) return { ok: false, message: `'proof' must be an absolute path of at most ${MAX_PROOF_PATH_CHARS} characters` };
  if (name !== undefined && (typeof name !== 'string' || name.length > MAX_NAME_CHARS)) return { ok: false, message: `'name' must be a string of at most ${MAX_NAME_CHARS} characters` };
  if (op === 'install') {
    if (typeof text !== 'string') return { ok: false, message: "'install' needs 'text', the table" };
    if (Buffer.byteLength(text, 'utf8') > MAX_TABLE_BYTES) return { ok: false, message: `the table is over ${MAX_TABLE_BYTES / 1024} KiB` };
  } else if (text !== undefined) return { ok: false, message: "'text' is only for 'install'" };
  const request: CrontabRequest = { op: op as Op, cronRoot, proof };
  if (typeof name === 'string') request.name = name;
  if (typeof text === 'string') request.text = text;
  return { ok: true, value: request };
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** The result of each op, checked field by field (the client never casts a reply). */
const RESULT_CHECKS: { [O in Op]: (value: Record<string, unknown>) => boolean } = {
  list: (r) => typeof r.user === 'string' && (r.text === null || typeof r.text === 'string'),
  install: (r) => typeof r.user === 'string' && typeof r.installed === 'boolean' && typeof r.jobs === 'number' && isStringArray(r.errors) && typeof r.errorCount === 'number' && isStringArray(r.warnings),
  remove: (r) => typeof r.user === 'string' && typeof r.removed === 'boolean',
};

export type ResultOf<O extends Op> = O extends 'list' ? ListResult : O extends 'install' ? InstallResult : RemoveResult;

export function parseReply<O extends Op>(op: O, line: string): Parsed<Reply<ResultOf<O>>> {
  const parsed = parseObject(line);
  if (!parsed.ok) return parsed;
  const reply = parsed.value;
  if (reply.ok === false) {
    const error = reply.error as Record<string, unknown> | undefined;
    if (typeof error !== 'object' || error === null || typeof error.code !== 'string' || typeof error.message !== 'string') return { ok: false, message: 'an error reply without code and message' };
    return { ok: true, value: { ok: false, error: { code: error.code, message: error.message } } };
  }
  const result = reply.result;
  if (reply.ok !== true || typeof result !== 'object' || result === null || !RESULT_CHECKS[op](result as Record<string, unknown>)) return { ok: false, message: `not a reply to '${op}'` };
  // Checked just above, field by field, against the op's result type.
  return { ok: true, value: { ok: true, result: result as ResultOf<O> } };
}

export function encodeLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}
