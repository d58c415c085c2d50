import { createConnection } from 'node:net';
import { ExitCode, ScheddError } from '../errors.js';
import type { CommandReply } from './commands.js';
import type { Command, Reply, RequestOf } from './protocol.js';

/** Sends one request and waits for its reply. "Not running" is an error with exit code 3. */
export function request(path: string, body: { id?: string | number; cmd: Command }, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ScheddError('SCHEDD_TIMEOUT', `no answer from the daemon within ${Math.round(timeoutMs / 1000)} s (${path})`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(body)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      socket.destroy();
      try {
        resolve(JSON.parse(buffer.slice(0, newline)) as Reply);
      } catch (error) {
        reject(new ScheddError('SCHEDD_BAD_REPLY', `the daemon sent a malformed reply: ${(error as Error).message}`));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        reject(new ScheddError('SCHEDD_NOT_RUNNING', 'not running', { exitCode: ExitCode.notRunning, cause: error }));
      } else if (error.code === 'EACCES') {
        reject(new ScheddError('SCHEDD_PERMISSION', `permission denied on ${path}: the daemon belongs to another user`, { cause: error }));
      } else {
        reject(new ScheddError('SCHEDD_CONTROL', `cannot reach the daemon at ${path}: ${error.message}`, { cause: error }));
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new ScheddError('SCHEDD_CONTROL', 'the daemon closed the connection without answering'));
    });
  });
}

/** The result of a successful reply, typed by the command sent, or its error as a ScheddError. */
export async function call<C extends Command>(path: string, body: RequestOf<C>, timeoutMs?: number): Promise<CommandReply<C>> {
  const reply = await request(path, body, timeoutMs);
  if (!reply.ok) throw new ScheddError(reply.error.code, reply.error.message);
  // The one place a reply gets its type: the daemon answers each command from the same map
  // (DaemonApi), so what arrives is that command's reply.
  return reply.result as CommandReply<C>;
}
