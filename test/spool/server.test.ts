// The users' crontab socket is public: what any local user can make it spend must be bounded.
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLog } from '../../src/log.js';
import { MAX_REQUEST_BYTES } from '../../src/spool/protocol.js';
import { startCrontabServer, type CrontabServer } from '../../src/spool/server.js';
import { tempDir } from '../helpers/cli.js';

const log = createLog({ level: 'silent', pretty: false });

/** Connects and collects what the server sends until it closes; resolves with it and how long it took. */
function session(path: string, send?: (socket: Socket) => void): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = createConnection(path);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('connect', () => send?.(socket));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    socket.on('close', () => resolve({ text, ms: performance.now() - started }));
  });
}

const lines = (text: string): unknown[] => text.trim().split('\n').map((line) => JSON.parse(line) as unknown);

describe('crontab.sock limits', () => {
  const tmp = tempDir('schedd-crontab-sock-');
  let server: CrontabServer;
  const path = join(tmp.dir, 'crontab.sock');
  before(async () => {
    server = await startCrontabServer(path, { cronRoot: '/', log, deadlineMs: 300, maxConnections: 3, ratePerSecond: 1000, burst: 1000 });
  });
  after(async () => {
    await server.close();
    tmp.cleanup();
  });

  it('greets each connection with a fresh nonce', async () => {
    const [a, b] = await Promise.all([session(path, (s) => s.end()), session(path, (s) => s.end())]);
    const nonces = [a, b].map((r) => (lines(r.text)[0] as { nonce: string }).nonce);
    assert.match(nonces[0]!, /^[0-9a-f]{64}$/);
    assert.notEqual(nonces[0], nonces[1]);
  });

  it('cuts off a silent client at the deadline', async () => {
    const { text, ms } = await session(path);
    assert.equal(lines(text).length, 1);
    assert.ok(ms >= 250 && ms < 3000, `closed after ${ms} ms`);
  });

  it('refuses a request over the size limit without reading on, and a malformed one', async () => {
    const big = await session(path, (s) => s.write(Buffer.alloc(MAX_REQUEST_BYTES + 10, 'x')));
    assert.deepEqual(lines(big.text)[1], { ok: false, error: { code: 'SCHEDD_REQUEST_TOO_LARGE', message: `request over ${MAX_REQUEST_BYTES} bytes` } });
    const bad = await session(path, (s) => s.write('{"op":"cat"}\n'));
    assert.deepEqual(lines(bad.text)[1], { ok: false, error: { code: 'SCHEDD_BAD_REQUEST', message: "'op' must be one of list, install, remove" } });
  });

  it('refuses a proof for another cron root, and a proof that does not prove', async () => {
    const other = await session(path, (s) => s.write('{"op":"list","cronRoot":"/srv","proof":"/tmp/d/p"}\n'));
    assert.equal((lines(other.text)[1] as { error: { code: string } }).error.code, 'SCHEDD_CRON_ROOT');
    const forged = await session(path, (s) => s.write('{"op":"list","cronRoot":"/","proof":"/proc/self/fd/0"}\n'));
    assert.equal((lines(forged.text)[1] as { error: { code: string } }).error.code, 'SCHEDD_CRONTAB_PROOF');
  });

  it('answers connections over the limit with busy, and serves again once they are gone', async () => {
    const held: Socket[] = [];
    await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<void>((resolve) => {
            const socket = createConnection(path);
            socket.once('data', () => resolve());
            socket.on('error', () => {});
            held.push(socket);
          }),
      ),
    );
    const busy = await session(path);
    assert.deepEqual(lines(busy.text), [{ ok: false, error: { code: 'SCHEDD_BUSY', message: 'the crontab service is busy; try again' } }]);
    for (const socket of held) socket.destroy();
    // The server sees the closes on its own time: poll, with a deadline.
    const deadline = performance.now() + 5000;
    let greeted = false;
    while (!greeted && performance.now() < deadline) greeted = 'nonce' in (lines((await session(path, (s) => s.end())).text)[0] as object);
    assert.equal(greeted, true);
  });
});

describe('crontab.sock rate', () => {
  const tmp = tempDir('schedd-crontab-rate-');
  after(() => tmp.cleanup());

  it('refuses connections beyond the burst', async () => {
    const path = join(tmp.dir, 'crontab.sock');
    const server = await startCrontabServer(path, { cronRoot: '/', log, deadlineMs: 200, ratePerSecond: 0.001, burst: 2 });
    try {
      const results = [];
      for (let i = 0; i < 3; i++) results.push(await session(path, (s) => s.end()));
      assert.deepEqual(results.map((r) => Object.keys(lines(r.text)[0] as object).join()), ['v,nonce', 'v,nonce', 'ok,error']);
    } finally {
      await server.close();
    }
  });
});
