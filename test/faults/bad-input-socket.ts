// The control-socket half of the bad-input scenario: phases of hostile clients against one
// running daemon, while a well-behaved client asks for status in a loop. Every phase asserts the
// exact replies the protocol promises (src/control/protocol.ts, server.ts).
import assert from 'node:assert/strict';
import { request } from '../../src/control/client.js';
import { MAX_REQUEST_BYTES } from '../../src/control/protocol.js';
import { MAX_CONNECTIONS } from '../../src/control/server.js';
import { rng } from './bad-input-corpus.js';
import { fdCount, pause, RawConnection, RssSampler, within } from './bad-input-clients.js';

const MiB = 1024 * 1024;
/** Memory the daemon may gain under all of this: the protocol promises a bounded cost per client. */
const RSS_ALLOWANCE = 128 * MiB;
const REPLY_DEADLINE_MS = 5000;
const ERROR_CODES = new Set(['SCHEDD_BAD_JSON', 'SCHEDD_BAD_REQUEST', 'SCHEDD_UNKNOWN_COMMAND']);

interface Totals {
  connections: number;
  bytesSent: number;
  requestLines: number;
}

/** The well-behaved client: one status request at a time, each answered within the deadline. */
class StatusPoller {
  ok = 0;
  busy = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(socket: string, pid: number) {
    this.loop = (async () => {
      for (let id = 1; this.running; id++) {
        try {
          const reply = await request(socket, { cmd: 'status', id }, REPLY_DEADLINE_MS);
          if (reply.ok && reply.id === id && (reply.result as { schedulerPid: number }).schedulerPid === pid) this.ok++;
          else if (!reply.ok && reply.error.code === 'SCHEDD_BUSY') this.busy++;
          else this.failures.push(JSON.stringify(reply));
        } catch (error) {
          this.failures.push((error as Error).message);
        }
        await pause(50);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Request lines that are not valid requests, and a few that are (ping, status, list). */
function malformedLine(rand: () => number): string {
  const valid = ['{"cmd":"ping"}', '{"cmd":"status","id":"s"}', '{"cmd":"list","id":7}'];
  const shapes = [
    () => '{"cmd":"stat',
    () => '{"cmd":1}',
    () => '[]',
    () => 'null',
    () => '"status"',
    () => '{"id":{},"cmd":"ping"}',
    () => '{"cmd":"ping","id":1e400}',
    () => '{"cmd":"nope","id":-0}',
    () => '{"cmd":"run"}',
    () => '{"cmd":"run","job":""}',
    () => '{"cmd":"\\ud800"}',
    () => '{"__proto__":{"cmd":"ping"}}',
    () => `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
    () => `{"cmd":"${'x'.repeat(60_000)}"}`,
    () => `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`,
    () => '\t{"cmd":"ping"}  \r',
    () => '\u2028',
    () => '\ufeff{"cmd":"ping"}',
    () => valid[Math.floor(rand() * valid.length)]!,
    () => {
      // A valid request with one character inserted, deleted or replaced.
      const text = valid[Math.floor(rand() * valid.length)]!;
      const at = Math.floor(rand() * text.length);
      const noise = '{}[]":,\\ 0x\u0000'[Math.floor(rand() * 13)]!;
      return rand() < 0.5 ? text.slice(0, at) + noise + text.slice(at) : text.slice(0, at) + text.slice(at + 1);
    },
  ];
  const line = shapes[Math.floor(rand() * shapes.length)]!();
  // Never stop, reload or run anything by accident.
  return /"(stop|reload|reopen-log)"/.test(line) ? '{"cmd":"ping"}' : line;
}

/** Replies the server owes for these request lines: one per line that is not blank. */
function owedReplies(lines: readonly string[]): number {
  return lines.filter((line) => line.replace(/\r$/, '').trim() !== '').length;
}

async function malformedJson(socket: string, rand: () => number, totals: Totals): Promise<number> {
  const clients = Array.from({ length: 20 }, () => Array.from({ length: 60 }, () => malformedLine(rand)));
  await Promise.all(
    clients.map(async (lines) => {
      const client = new RawConnection(socket);
      assert.equal(await client.connected, true, client.connectError ?? '');
      const payload = `${lines.join('\n')}\n`;
      await client.write(payload);
      client.end();
      await within('replies to malformed JSON', client.done, 20_000);
      const replies = client.replies();
      assert.equal(replies.length, owedReplies(lines), `replies to ${JSON.stringify(lines.map((l) => l.slice(0, 80)))}`);
      for (const reply of replies) assert.ok(reply.ok || ERROR_CODES.has(reply.error!.code), JSON.stringify(reply));
      totals.connections++;
      totals.bytesSent += Buffer.byteLength(payload);
      totals.requestLines += lines.length;
    }),
  );
  return clients.length * 60;
}

async function binaryGarbage(socket: string, rand: () => number, totals: Totals): Promise<number> {
  let bytes = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      const garbage = Buffer.alloc(128 * 1024);
      for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(rand() * 256);
      const client = new RawConnection(socket);
      assert.equal(await client.connected, true, client.connectError ?? '');
      await client.write(garbage);
      client.end();
      await within('replies to binary garbage', client.done, 20_000);
      // The server's own reading of the bytes: lines split at \n, decoded as UTF-8, \r stripped.
      const lines = garbage.toString('latin1').split('\n').slice(0, -1).map((line) => Buffer.from(line, 'latin1').toString('utf8'));
      const replies = client.replies();
      assert.equal(replies.length, owedReplies(lines));
      for (const reply of replies) assert.ok(!reply.ok && ERROR_CODES.has(reply.error!.code), JSON.stringify(reply));
      bytes += garbage.length;
      totals.connections++;
      totals.bytesSent += garbage.length;
      totals.requestLines += lines.length;
    }),
  );
  return bytes;
}

async function oversized(socket: string, totals: Totals): Promise<number> {
  // A request just over the limit, behind a good one: the good one is answered first.
  const client = new RawConnection(socket);
  assert.equal(await client.connected, true);
  const big = `{"cmd":"ping","pad":"${'x'.repeat(MAX_REQUEST_BYTES)}"}\n`;
  await client.write(`{"cmd":"ping","id":1}\n${big}{"cmd":"ping","id":2}\n`);
  await within('the oversized request refused', client.done, 10_000);
  assert.deepEqual(client.replies().map((r) => r.id ?? r.error?.code), [1, 'SCHEDD_REQUEST_TOO_LARGE']);
  totals.connections++;
  totals.bytesSent += big.length;
  // Three clients, each offering 32 MiB without a newline: refused once past the limit. The reply
  // may be lost to the client itself: a write that fails (EPIPE) makes Node drop the socket with
  // the reply unread in it, so what is asserted is that the server closed the connection soon,
  // and that any reply that did arrive is exactly the refusal.
  let offered = 0;
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      const flood = new RawConnection(socket);
      assert.equal(await flood.connected, true);
      const chunk = Buffer.alloc(64 * 1024, 'a');
      let accepted = 0;
      while (accepted < 32 * MiB && flood.received === '' && (await flood.write(chunk))) accepted += chunk.length;
      await within('a flood without newline refused', flood.done, 15_000);
      assert.ok(accepted < 8 * MiB, `the server took ${accepted} bytes without a newline before closing`);
      if (flood.received === '') assert.match(flood.writeError ?? '', /^(EPIPE|ECONNRESET)$/);
      else assert.deepEqual(flood.replies().map((r) => r.error?.code), ['SCHEDD_REQUEST_TOO_LARGE']);
      offered += accepted + chunk.length;
      totals.connections++;
    }),
  );
  totals.bytesSent += offered;
  return offered;
}

async function halfOpen(socket: string, totals: Totals): Promise<void> {
  // Half a request, then end: no reply is owed, and the server closes its side too.
  const halves = Array.from({ length: 20 }, () => new RawConnection(socket));
  // A full request, then end at once (nc -U): the reply is owed before the close.
  const fulls = Array.from({ length: 20 }, () => new RawConnection(socket));
  await Promise.all([...halves, ...fulls].map((c) => c.connected));
  await Promise.all([...halves.map((c) => c.write('{"cmd":"sta')), ...fulls.map((c, i) => c.write(`{"cmd":"ping","id":${i}}\n`))]);
  for (const c of [...halves, ...fulls]) c.end();
  await within('half-open clients closed by the server', Promise.all([...halves, ...fulls].map((c) => c.done)), 10_000);
  for (const c of halves) assert.equal(c.received, '');
  fulls.forEach((c, i) => assert.deepEqual(c.replies(), [{ id: i, ok: true, result: { pong: true } }]));
  totals.connections += 40;
}

/** Clients that pipeline requests and never read: dropped once 4 MiB of replies wait for them. */
async function neverRead(socket: string, totals: Totals): Promise<void> {
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      const client = new RawConnection(socket, { read: false });
      assert.equal(await client.connected, true);
      const batch = '{"cmd":"list"}\n'.repeat(1000);
      let sent = 0;
      await within('the server dropping a client that never reads', (async () => {
        while (await client.write(batch)) sent += batch.length;
      })(), 20_000);
      assert.notEqual(client.writeError, null);
      client.destroy();
      totals.connections++;
      totals.bytesSent += sent;
    }),
  );
}

/** One request byte every 50 ms; the reply still comes, and nobody else waits for it. */
function slowClients(socket: string, totals: Totals): Promise<void>[] {
  return Array.from({ length: 6 }, async (_, i) => {
    const client = new RawConnection(socket);
    assert.equal(await client.connected, true);
    const line = `{"cmd":"status","id":"slow-${i}"}\n`;
    for (const byte of line) {
      await client.write(byte);
      await pause(50);
    }
    await within('a reply to the slow client', (async () => {
      while (!client.received.includes('\n')) await pause(20);
    })(), REPLY_DEADLINE_MS);
    const [reply] = client.replies();
    assert.equal(reply?.id, `slow-${i}`);
    assert.equal(reply?.ok, true);
    client.destroy();
    totals.connections++;
    totals.bytesSent += line.length;
  });
}

/** Opens connections in batches (the listen backlog is finite), retrying EAGAIN. */
async function openMany(socket: string, count: number): Promise<RawConnection[]> {
  const open: RawConnection[] = [];
  while (open.length < count) {
    const batch = Array.from({ length: Math.min(200, count - open.length) }, () => new RawConnection(socket));
    await Promise.all(batch.map((c) => c.connected));
    for (const c of batch) {
      if (c.connectError === null) open.push(c);
      else assert.equal(c.connectError, 'EAGAIN', 'only a full backlog may refuse a connect');
    }
  }
  return open;
}

/** Fills the server past MAX_CONNECTIONS with idle clients, then floods it with thousands more. */
async function manyConnections(socket: string, totals: Totals): Promise<{ held: number; refused: number; flood: number }> {
  const idle = await openMany(socket, MAX_CONNECTIONS + 50);
  const isBusy = (c: RawConnection): boolean => c.received.includes('SCHEDD_BUSY');
  // Every connection the server kept is served; every other one was told it is busy.
  await Promise.all(idle.map((c, i) => c.write(`{"cmd":"ping","id":${i}}\n`)));
  await within('a reply on every connection', (async () => {
    while (idle.some((c) => !c.received.includes('\n'))) await pause(20);
  })(), 15_000).catch((error: Error) => {
    const silent = idle.filter((c) => !c.received.includes('\n'));
    throw new Error(`${error.message}: ${silent.length} of ${idle.length} silent (${silent.filter((c) => c.closed).length} closed, write errors ${JSON.stringify([...new Set(silent.map((c) => c.writeError))])}), ${idle.filter(isBusy).length} busy`);
  });
  const held = idle.filter((c) => !isBusy(c));
  for (const c of held) assert.deepEqual(c.replies(), [{ id: idle.indexOf(c), ok: true, result: { pong: true } }]);
  assert.ok(held.length <= MAX_CONNECTIONS && held.length >= MAX_CONNECTIONS - 10, `${held.length} held`);
  for (const c of idle.filter(isBusy)) {
    await within('a refused connection closed', c.done, 10_000);
    assert.deepEqual(c.replies().map((r) => r.error?.code), ['SCHEDD_BUSY']);
  }
  // With the server full, 2000 more: each gets exactly one reply (busy, or a pong if it took the
  // place of a closing poller connection) and is closed.
  const FLOOD = 2000;
  let busy = 0;
  for (let done = 0; done < FLOOD; done += 250) {
    const batch = await openMany(socket, Math.min(250, FLOOD - done));
    await Promise.all(batch.map((c) => c.write('{"cmd":"ping"}\n')));
    for (const c of batch) c.end();
    await within('replies to the connection flood', Promise.all(batch.map((c) => c.done)), 20_000);
    for (const c of batch) {
      const replies = c.replies();
      assert.equal(replies.length, 1, c.received);
      if (replies[0]!.error?.code === 'SCHEDD_BUSY') busy++;
      else assert.deepEqual(replies[0], { ok: true, result: { pong: true } });
    }
  }
  assert.ok(busy >= FLOOD - 50, `${busy} of ${FLOOD} refused while the server was full`);
  for (const c of held) c.destroy();
  totals.connections += idle.length + FLOOD;
  return { held: held.length, refused: idle.length - held.length + busy, flood: FLOOD };
}

export async function fuzzControlSocket(options: { pid: number; socket: string; seed: number }): Promise<Record<string, number>> {
  const { pid, socket } = options;
  const rand = rng(options.seed);
  let fdBaseline = 0;
  for (let i = 0; i < 10; i++, await pause(100)) fdBaseline = Math.max(fdBaseline, fdCount(pid));
  const rss = new RssSampler(pid);
  const poller = new StatusPoller(socket, pid);
  const totals: Totals = { connections: 0, bytesSent: 0, requestLines: 0 };
  try {
    const malformedLines = await malformedJson(socket, rand, totals);
    const garbageBytes = await binaryGarbage(socket, rand, totals);
    const oversizedBytes = await oversized(socket, totals);
    await halfOpen(socket, totals);
    await neverRead(socket, totals);
    const slow = slowClients(socket, totals);
    await pause(100); // the slow clients connect before the flood
    const many = await manyConnections(socket, totals);
    await Promise.all(slow);
    // Served again once the crowd has gone.
    const okBefore = poller.ok;
    await within('status answered again after the flood', (async () => {
      while (poller.ok < okBefore + 3) await pause(50);
    })(), 15_000);
    await poller.stop();
    assert.deepEqual(poller.failures, []);
    rss.stop();
    assert.ok(rss.peak <= rss.baseline + RSS_ALLOWANCE, `RSS grew from ${rss.baseline} to ${rss.peak}`);
    // Every connection's descriptor is released.
    await within(`fds back to ${fdBaseline}`, (async () => {
      while (fdCount(pid) > fdBaseline) await pause(100);
    })(), 15_000);
    return {
      controlConnections: totals.connections + poller.ok + poller.busy,
      controlBytesSent: totals.bytesSent,
      malformedLines,
      garbageBytes,
      oversizedBytes,
      connectionsHeld: many.held,
      connectionsRefusedBusy: many.refused,
      statusAnswered: poller.ok,
      statusAnsweredBusy: poller.busy,
      statusUnanswered: poller.failures.length,
      rssBaselineMiB: Math.round(rss.baseline / MiB),
      rssPeakMiB: Math.round(rss.peak / MiB),
    };
  } finally {
    rss.stop();
    await poller.stop();
  }
}
