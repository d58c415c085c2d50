import { randomBytes } from 'node:crypto';
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Log } from '../log.js';
import { accountOfUid, crontabAllowed, spoolableName } from './layout.js';
import { verifyProof } from './proof.js';
import { encodeLine, MAX_REQUEST_BYTES, parseRequest, PROTOCOL_VERSION, proofText, type CrontabRequest, type ErrorBody } from './protocol.js';
import { installTable, readTable, removeTable } from './table.js';

/**
 * The users' crontab socket: a root daemon started with --cron lets any local user list,
 * install and remove their own table, and nothing else, without a setgid binary or a spool
 * others can write. The socket is 0666 in a state directory others may search (0711) but not
 * read. Every connection gets a nonce, sends one request, gets one reply and is closed; who it
 * is comes from the proof file (proof.ts), then passwd, then cron.allow/cron.deny.
 *
 * Anyone can connect, so every cost is bounded: the request line (MAX_REQUEST_BYTES, refused
 * without being buffered beyond it), connections at once, a deadline per connection from
 * accept to reply (a slow or silent client is cut off), new connections per second (a token
 * bucket), and proofs checked at once (each may wait on the filesystem in Node's thread pool,
 * which the rest of the daemon shares).
 */

export interface CrontabServerOptions {
  cronRoot: string;
  log: Log;
  maxConnections?: number;
  deadlineMs?: number;
  /** New connections per second, and the burst allowed above it. */
  ratePerSecond?: number;
  burst?: number;
}

export interface CrontabServer {
  close(): Promise<void>;
}

const MAX_PROOFS_AT_ONCE = 2;

export async function startCrontabServer(path: string, options: CrontabServerOptions): Promise<CrontabServer> {
  const maxConnections = options.maxConnections ?? 32;
  const deadlineMs = options.deadlineMs ?? 10_000;
  const rate = options.ratePerSecond ?? 20;
  const burst = options.burst ?? 40;
  let tokens = burst;
  let refilledAt = performance.now();
  const takeToken = (): boolean => {
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - refilledAt) / 1000) * rate);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
  const proofs = semaphore(MAX_PROOFS_AT_ONCE);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (sockets.size > maxConnections || !takeToken()) {
      socket.end(encodeLine({ ok: false, error: { code: 'SCHEDD_BUSY', message: 'the crontab service is busy; try again' } }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    serve(socket, { ...options, deadlineMs }, proofs);
  });
  server.on('error', (error) => options.log.error({ err: error }, 'crontab socket error'));
  // The instance lock is held, so a socket file left here belongs to a dead daemon.
  rmSync(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Public on purpose: who connects is established per request, not by who may connect.
  chmodSync(path, 0o666);
  return {
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function serve(socket: Socket, options: CrontabServerOptions & { deadlineMs: number }, proofs: Semaphore): void {
  const deadline = setTimeout(() => socket.destroy(), options.deadlineMs);
  socket.on('close', () => clearTimeout(deadline));
  const nonce = randomBytes(32).toString('hex');
  socket.write(encodeLine({ v: PROTOCOL_VERSION, nonce }));
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  const reply = (body: { ok: true; result: unknown } | { ok: false; error: ErrorBody }): void => {
    socket.end(encodeLine(body));
  };
  socket.on('data', (chunk: Buffer) => {
    if (done) return;
    const newline = chunk.indexOf(10);
    const part = newline < 0 ? chunk : chunk.subarray(0, newline);
    size += part.length;
    if (size > MAX_REQUEST_BYTES) {
      done = true;
      socket.pause();
      return reply({ ok: false, error: { code: 'SCHEDD_REQUEST_TOO_LARGE', message: `request over ${MAX_REQUEST_BYTES} bytes` } });
    }
    chunks.push(part);
    if (newline < 0) return;
    done = true;
    socket.pause();
    const parsed = parseRequest(Buffer.concat(chunks).toString('utf8'));
    if (!parsed.ok) return reply({ ok: false, error: { code: 'SCHEDD_BAD_REQUEST', message: parsed.message } });
    void answer(parsed.value, nonce, options, proofs).then(reply, (error: Error) => {
      options.log.error({ err: error, reason: error.message }, 'crontab request failed');
      reply({ ok: false, error: { code: 'SCHEDD_INTERNAL', message: error.message } });
    });
  });
  socket.on('end', () => {
    if (!done) socket.destroy();
  });
}

type Answer = { ok: true; result: unknown } | { ok: false; error: ErrorBody };

const fail = (code: string, message: string): Answer => ({ ok: false, error: { code, message } });

async function answer(request: CrontabRequest, nonce: string, options: CrontabServerOptions, proofs: Semaphore): Promise<Answer> {
  if (request.cronRoot !== options.cronRoot) {
    return fail('SCHEDD_CRON_ROOT', `this daemon serves the cron root ${options.cronRoot}, not ${request.cronRoot} (give --cron-root ${options.cronRoot}, or --state-dir of the daemon that serves ${request.cronRoot})`);
  }
  const { proof, ...rest } = request;
  const check = await proofs.run(() => verifyProof(proof, proofText(nonce, rest)));
  if (!check.ok) {
    options.log.warn({ reason: check.reason }, 'crontab request refused: proof of identity not accepted');
    // One answer for every refusal: the daemon looks as root, and its reasons would tell the
    // caller about paths they cannot see.
    return fail('SCHEDD_CRONTAB_PROOF', 'cannot establish who you are: the proof file was refused (expected a regular file of yours, mode 600, one link, in a private directory of /tmp, holding the proof for this connection)');
  }
  const account = await accountOfUid(check.uid);
  if (account === null || !spoolableName(account.name)) return fail('SCHEDD_CRONTAB_USER', `uid ${check.uid} has no user name in passwd that can name a table`);
  const allowed = await crontabAllowed(options.cronRoot, account);
  if (!allowed.ok) return fail('SCHEDD_CRONTAB_DENIED', allowed.message);
  const crontab = `user/${account.name}`;
  if (request.op === 'list') return { ok: true, result: { user: account.name, text: await readTable(options.cronRoot, account.name, account.uid) } };
  if (request.op === 'remove') {
    const removed = await removeTable(options.cronRoot, account.name);
    if (removed) options.log.info({ crontab }, 'crontab removed');
    return { ok: true, result: { user: account.name, removed } };
  }
  const result = await installTable(options.cronRoot, account, request.text ?? '', request.name ?? '-', { unprivileged: true });
  if (result.installed) options.log.info({ crontab, jobs: result.jobs }, 'crontab installed');
  return { ok: true, result };
}

interface Semaphore {
  run<T>(work: () => Promise<T>): Promise<T>;
}

function semaphore(size: number): Semaphore {
  let free = size;
  const waiting: (() => void)[] = [];
  return {
    async run(work) {
      if (free === 0) await new Promise<void>((resolve) => waiting.push(resolve));
      else free--;
      try {
        return await work();
      } finally {
        const next = waiting.shift();
        if (next === undefined) free++;
        else next();
      }
    },
  };
}
