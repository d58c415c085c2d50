import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { encode, errorReply, LineReader, MAX_REQUEST_BYTES, parseRequest, type Reply, type Request } from './protocol.js';

/**
 * The control socket's server. Every request gets a reply, malformed ones included; a request
 * over the size limit gets an error and the connection is closed; a slow, silent or half-open
 * client only ever holds its own connection (replies are written without waiting on it, and
 * idle connections are closed), so it cannot block others or the scheduler.
 */

export type Handler = (request: Request) => Promise<Reply>;

export const MAX_CONNECTIONS = 256;
const IDLE_TIMEOUT_MS = 30_000;
/** How long a refused connection stays open for the client to send its request and read why. */
const REFUSED_LINGER_MS = 2000;
/** A client that does not read its replies is dropped once this much is queued for it. */
const MAX_PENDING_REPLY_BYTES = 4 * 1024 * 1024;
/** Requests read but not yet answered, per connection; beyond it reading pauses (backpressure). */
const MAX_PENDING_REQUESTS = 32;

export interface ControlServer {
  close(): Promise<void>;
  readonly connections: number;
}

export async function startControlServer(path: string, handler: Handler, onError: (error: Error) => void): Promise<ControlServer> {
  const sockets = new Set<Socket>();
  /** Refused connections, lingering until their clients have read why (closed by close() too). */
  const refused = new Set<Socket>();
  // Half-open allowed: `echo '{"cmd":"status"}' | nc -U` ends its side right after the request
  // and still deserves the reply.
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    if (sockets.size >= MAX_CONNECTIONS) {
      refused.add(socket);
      socket.on('close', () => refused.delete(socket));
      refuse(socket);
      return;
    }
    serve(socket, sockets, handler, onError);
  });
  server.on('error', onError);
  // The instance lock is held, so a socket file left here belongs to a dead daemon.
  rmSync(path, { force: true });
  // Created 0600 from the start (no window where others could connect), then kept so.
  const previousUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previousUmask);
  }
  chmodSync(path, 0o600);
  return {
    get connections() {
      return sockets.size;
    },
    close() {
      for (const socket of [...sockets, ...refused]) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Tells a connection over the limit that the daemon is busy. Its request is read and discarded,
 * and the socket is closed when the client closes it, or after REFUSED_LINGER_MS: closing at once
 * made the request the client writes on connect fail with EPIPE, and the client then dropped
 * the socket with the refusal unread ("cannot reach the daemon: write EPIPE").
 */
function refuse(socket: Socket): void {
  const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
  socket.on('close', () => clearTimeout(linger));
  socket.on('error', () => socket.destroy());
  socket.on('end', () => socket.destroy());
  socket.resume();
  socket.end(encode({ ok: false, error: { code: 'SCHEDD_BUSY', message: `too many control connections (${MAX_CONNECTIONS}); try again` } }));
}

function serve(socket: Socket, sockets: Set<Socket>, handler: Handler, onError: (error: Error) => void): void {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => socket.destroy());
  const idle = (): void => void socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
  idle();
  const reader = new LineReader();
  // Requests on one connection are answered in order; `pending` counts those not yet answered.
  let queue: Promise<void> = Promise.resolve();
  let pending = 0;
  let closing = false;
  const send = (reply: Reply): void => {
    if (socket.destroyed) return;
    if (socket.writableLength > MAX_PENDING_REPLY_BYTES) {
      socket.destroy();
      return;
    }
    socket.write(encode(reply));
  };
  const enqueue = (work: () => Promise<void> | void): void => {
    pending++;
    // No idle timeout while the daemon itself is working on a request.
    socket.setTimeout(0);
    if (pending >= MAX_PENDING_REQUESTS) socket.pause();
    queue = queue.then(work).finally(() => {
      pending--;
      if (pending < MAX_PENDING_REQUESTS && !closing) socket.resume();
      if (pending === 0) idle();
    });
  };
  socket.on('data', (chunk: Buffer) => {
    if (closing) return;
    const pushed = reader.push(chunk);
    const lines = pushed === 'too-long' ? reader.linesBeforeOverflow : pushed;
    for (const line of lines) {
      if (line.trim() === '') continue;
      const parsed = parseRequest(line);
      enqueue(async () => {
        if (!parsed.ok) return send(parsed.reply);
        try {
          send(await handler(parsed.request));
        } catch (error) {
          onError(error as Error);
          send(errorReply(parsed.request, 'SCHEDD_INTERNAL', (error as Error).message));
        }
      });
    }
    if (pushed === 'too-long') {
      // After the replies to what came before it, in order; nothing more is read.
      closing = true;
      socket.pause();
      enqueue(() => {
        send({ ok: false, error: { code: 'SCHEDD_REQUEST_TOO_LARGE', message: `request over ${MAX_REQUEST_BYTES} bytes; connection closed` } });
        socket.end(() => socket.destroy());
      });
      return;
    }
  });
  // The client has sent all it will: answer what it asked, then close our side.
  socket.on('end', () => {
    closing = true;
    queue = queue.then(() => void socket.end());
  });
}
