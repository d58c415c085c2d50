import { lstat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { ExitCode, ScheddError } from '../errors.js';
import { unsafeWalk } from '../safe-path.js';
import { writeProof } from './proof.js';
import { encodeLine, MAX_REPLY_BYTES, parseHello, parseReply, proofText, type CrontabRequest, type Op, type ResultOf } from './protocol.js';

/**
 * A user's side of crontab.sock. Before anything is sent, the socket must be root's, in
 * directories only root controls: otherwise whoever made it could relay the daemon's nonce to
 * us and our proof to the daemon. (The proof names this request, so a relay could still only
 * deliver what we asked for; the check keeps our table from going anywhere else.)
 */

const TIMEOUT_MS = 30_000;

function notServed(socket: string, why: string): ScheddError {
  return new ScheddError(
    'SCHEDD_NOT_RUNNING',
    `no schedd daemon serves users' crontabs at ${socket} (${why}); root starts one with \`schedd start --cron\`, and --state-dir DIR or SCHEDD_STATE_DIR points at its state directory`,
    { exitCode: ExitCode.notRunning },
  );
}

async function checkSocket(socket: string): Promise<void> {
  let problem: string | null;
  try {
    // Every directory down to the socket, the state directory's included: the socket itself is judged below.
    problem = unsafeWalk(socket, [0], { missingOk: true });
  } catch {
    throw notServed(socket, 'its state directory cannot be searched');
  }
  if (problem !== null) throw new ScheddError('SCHEDD_CRONTAB_SOCKET', `refusing ${socket}: ${problem} (a daemon's socket must be in root's directories)`);
  let stat;
  try {
    stat = await lstat(socket);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw notServed(socket, code === 'ENOENT' ? 'no such socket' : code === 'EACCES' ? 'its state directory cannot be searched' : (error as Error).message);
  }
  if (!stat.isSocket() || stat.uid !== 0) throw new ScheddError('SCHEDD_CRONTAB_SOCKET', `refusing ${socket}: ${stat.isSocket() ? `owned by uid ${stat.uid}` : 'not a socket'} (expected root's daemon socket)`);
}

/** One request: connect, take the nonce, write the proof, send, read the reply. The result, or its error as a ScheddError. */
export async function crontabCall<O extends Op>(socket: string, request: Omit<CrontabRequest, 'proof'> & { op: O }): Promise<ResultOf<O>> {
  await checkSocket(socket);
  const lines = await exchange(socket, async (hello) => {
    const parsed = parseHello(hello);
    if (!parsed.ok) throw new ScheddError('SCHEDD_BAD_REPLY', `the daemon's greeting: ${parsed.message}`);
    return writeProof(proofText(parsed.value.nonce, request));
  }, request);
  const parsed = parseReply(request.op, lines);
  if (!parsed.ok) throw new ScheddError('SCHEDD_BAD_REPLY', `the daemon sent a malformed reply: ${parsed.message}`);
  const reply = parsed.value;
  if (!reply.ok) throw new ScheddError(reply.error.code, reply.error.message);
  return reply.result;
}

/** The greeting, then our line, then the reply line; the proof removed however it ends. */
function exchange(path: string, prove: (hello: string) => Promise<{ path: string; remove(): Promise<void> }>, request: Omit<CrontabRequest, 'proof'>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = '';
    let stage: 'hello' | 'reply' = 'hello';
    let proof: { path: string; remove(): Promise<void> } | null = null;
    let settled = false;
    const finish = (error: Error | null, line?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      void (proof?.remove() ?? Promise.resolve()).finally(() => (error === null ? resolve(line!) : reject(error)));
    };
    const timer = setTimeout(() => finish(new ScheddError('SCHEDD_TIMEOUT', `no answer from the daemon within ${TIMEOUT_MS / 1000} s (${path})`)), TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_REPLY_BYTES) return finish(new ScheddError('SCHEDD_BAD_REPLY', 'the daemon sent a reply over the size limit'));
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (stage === 'reply') return finish(null, line);
      stage = 'reply';
      // A busy daemon answers with an error instead of a greeting.
      if (line.startsWith('{"ok":')) return finish(null, line);
      prove(line).then(
        (made) => {
          proof = made;
          if (settled) return void made.remove();
          socket.write(encodeLine({ ...request, proof: made.path }));
        },
        (error: Error) => finish(error),
      );
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') finish(notServed(path, 'nothing listens on it'));
      else finish(new ScheddError('SCHEDD_CONTROL', `cannot reach the daemon at ${path}: ${error.message}`, { cause: error }));
    });
    socket.on('close', () => finish(new ScheddError('SCHEDD_CONTROL', 'the daemon closed the connection without answering')));
  });
}
