import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { COMMANDS, encode, errorReply, LineReader, MAX_REQUEST_BYTES, okReply, parseRequest, type Parsed } from '../../src/control/protocol.js';

const expected = `(expected one of ${COMMANDS.join(', ')})`;

/** V8's own wording, so the expected reply is exact without pinning one Node version's text. */
function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`${text} is valid JSON`);
}

function bad(code: string, message: string, id?: string | number): Parsed {
  return { ok: false, reply: id === undefined ? { ok: false, error: { code, message } } : { id, ok: false, error: { code, message } } };
}

const badJson = (text: string): Parsed => bad('SCHEDD_BAD_JSON', `malformed JSON: ${jsonError(text)} (expected one JSON object per line)`);
const notObject = (what: string): Parsed => bad('SCHEDD_BAD_REQUEST', `expected a JSON object such as {"cmd":"status"}, got ${what}`);

describe('parseRequest', () => {
  const cases: Array<[string, string, Parsed]> = [
    ['empty line', '', badJson('')],
    ['not JSON', 'status', badJson('status')],
    ['truncated object', '{"cmd":"status"', badJson('{"cmd":"status"')],
    ['trailing garbage', '{"cmd":"ping"} x', badJson('{"cmd":"ping"} x')],
    ['an array', '[{"cmd":"ping"}]', notObject('an array')],
    ['null', 'null', notObject('null')],
    ['a number', '42', notObject('number')],
    ['a string', '"ping"', notObject('string')],
    ['a boolean', 'true', notObject('boolean')],
    ['missing cmd', '{}', bad('SCHEDD_BAD_REQUEST', `missing 'cmd' ${expected}`)],
    ['cmd not a string', '{"cmd":7}', bad('SCHEDD_BAD_REQUEST', `missing 'cmd' ${expected}`)],
    ['missing cmd keeps the id', '{"id":3}', bad('SCHEDD_BAD_REQUEST', `missing 'cmd' ${expected}`, 3)],
    ['unknown cmd', '{"cmd":"restart"}', bad('SCHEDD_UNKNOWN_COMMAND', `unknown command 'restart' ${expected}`)],
    ['cmd is case-sensitive', '{"id":"a","cmd":"PING"}', bad('SCHEDD_UNKNOWN_COMMAND', `unknown command 'PING' ${expected}`, 'a')],
    ['unknown long cmd is cut to 64 chars', JSON.stringify({ cmd: 'x'.repeat(200) }), bad('SCHEDD_UNKNOWN_COMMAND', `unknown command '${'x'.repeat(64)}' ${expected}`)],
    ['string id echoed', '{"id":"abc","cmd":"status"}', { ok: true, request: { id: 'abc', cmd: 'status' } }],
    ['number id echoed', '{"id":17,"cmd":"list"}', { ok: true, request: { id: 17, cmd: 'list' } }],
    ['zero and empty ids are ids', '{"id":0,"cmd":"ping"}', { ok: true, request: { id: 0, cmd: 'ping' } }],
    ['empty string id', '{"id":"","cmd":"ping"}', { ok: true, request: { id: '', cmd: 'ping' } }],
    ['object id rejected', '{"id":{"a":1},"cmd":"ping"}', bad('SCHEDD_BAD_REQUEST', "'id' must be a string or a number")],
    ['array id rejected', '{"id":[1],"cmd":"ping"}', bad('SCHEDD_BAD_REQUEST', "'id' must be a string or a number")],
    ['null id rejected', '{"id":null,"cmd":"ping"}', bad('SCHEDD_BAD_REQUEST', "'id' must be a string or a number")],
    ['no id, no id in the request', '{"cmd":"reload"}', { ok: true, request: { cmd: 'reload' } }],
    ['extra fields ignored', '{"cmd":"stop","force":true,"job":"x"}', { ok: true, request: { cmd: 'stop' } }],
    ['surrounding whitespace', '  {"cmd":"reopen-log"}\t', { ok: true, request: { cmd: 'reopen-log' } }],
    ['run without job', '{"id":1,"cmd":"run"}', bad('SCHEDD_BAD_REQUEST', "'run' needs 'job', the id of a job (see schedd list)", 1)],
    ['run with an empty job', '{"cmd":"run","job":""}', bad('SCHEDD_BAD_REQUEST', "'run' needs 'job', the id of a job (see schedd list)")],
    ['run with a numeric job', '{"cmd":"run","job":5}', bad('SCHEDD_BAD_REQUEST', "'run' needs 'job', the id of a job (see schedd list)")],
    ['run with a job', '{"id":"r","cmd":"run","job":"backup"}', { ok: true, request: { id: 'r', cmd: 'run', job: 'backup' } }],
    ['__proto__ key is just a key', '{"__proto__":{"cmd":"ping"}}', bad('SCHEDD_BAD_REQUEST', `missing 'cmd' ${expected}`)],
  ];
  for (const [name, line, want] of cases) {
    it(name, () => assert.deepEqual(parseRequest(line), want));
  }

  it('accepts every command it advertises', () => {
    for (const cmd of COMMANDS) {
      const line = cmd === 'run' ? `{"cmd":"run","job":"j"}` : cmd === 'service' ? `{"cmd":"service","action":"stop","name":"w"}` : `{"cmd":"${cmd}"}`;
      assert.equal(parseRequest(line).ok, true, cmd);
    }
  });
});

describe('replies', () => {
  it('okReply and errorReply echo the id only when the request had one', () => {
    assert.deepEqual(okReply({ cmd: 'ping' }, 'pong'), { ok: true, result: 'pong' });
    assert.deepEqual(okReply({ id: 0, cmd: 'ping' }, null), { id: 0, ok: true, result: null });
    assert.deepEqual(errorReply({ cmd: 'run', job: 'x' }, 'SCHEDD_NO_JOB', 'no job x'), { ok: false, error: { code: 'SCHEDD_NO_JOB', message: 'no job x' } });
    assert.deepEqual(errorReply({ id: 'q', cmd: 'run' }, 'C', 'm'), { id: 'q', ok: false, error: { code: 'C', message: 'm' } });
  });

  it('encode writes one line with the id first', () => {
    assert.equal(encode(okReply({ id: 1, cmd: 'status' }, { a: 'x\ny' })), '{"id":1,"ok":true,"result":{"a":"x\\ny"}}\n');
    assert.equal(encode({ ok: false, error: { code: 'C', message: 'm' } }), '{"ok":false,"error":{"code":"C","message":"m"}}\n');
  });
});

function feed(reader: LineReader, ...chunks: Array<string | Buffer>): Array<string[] | 'too-long'> {
  return chunks.map((chunk) => reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
}

describe('LineReader', () => {
  it('regression: the complete lines before an oversized one in the same chunk were dropped, never answered', () => {
    const reader = new LineReader();
    const chunk = Buffer.concat([Buffer.from('{"cmd":"ping"}\n{"cmd":"status"}\n'), Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x61)]);
    assert.equal(reader.push(chunk), 'too-long');
    assert.deepEqual(reader.linesBeforeOverflow, ['{"cmd":"ping"}', '{"cmd":"status"}']);
  });

  it('joins lines split across chunks and keeps the unfinished tail', () => {
    assert.deepEqual(feed(new LineReader(), '{"cmd":', '"ping"}\n{"cmd"', ':"status"}\n\n{"x"', '}\n'), [[], ['{"cmd":"ping"}'], ['{"cmd":"status"}', ''], ['{"x"}']]);
  });

  it('strips one CR before the newline, also when the CR ends the previous chunk', () => {
    assert.deepEqual(feed(new LineReader(), 'a\r\nb\r', '\nc\r\r\n'), [['a'], ['b', 'c\r']]);
  });

  it('decodes a UTF-8 character split across chunks', () => {
    const bytes = Buffer.from('{"id":"é€😀"}\n');
    const reader = new LineReader();
    assert.deepEqual([reader.push(bytes.subarray(0, 8)), reader.push(bytes.subarray(8, 11)), reader.push(bytes.subarray(11))], [[], [], ['{"id":"é€😀"}']]);
  });

  it('accepts a line of exactly MAX_REQUEST_BYTES, in one chunk or many', () => {
    const line = 'x'.repeat(MAX_REQUEST_BYTES);
    assert.deepEqual(new LineReader().push(Buffer.from(`${line}\n`)), [line]);
    assert.deepEqual(feed(new LineReader(), line.slice(0, 1000), line.slice(1000), '\nok\n'), [[], [], [line, 'ok']]);
    assert.deepEqual(feed(new LineReader(), line), [[]], 'the limit itself may sit in the buffer');
  });

  it('refuses a line one byte over the limit, with or without its newline', () => {
    const line = 'x'.repeat(MAX_REQUEST_BYTES + 1);
    assert.equal(new LineReader().push(Buffer.from(`${line}\n`)), 'too-long');
    assert.equal(new LineReader().push(Buffer.from(line)), 'too-long');
    assert.deepEqual(feed(new LineReader(), line.slice(0, MAX_REQUEST_BYTES), 'x'), [[], 'too-long']);
    assert.deepEqual(feed(new LineReader(), 'a\n', line.slice(0, 10), line.slice(10)), [['a'], [], 'too-long']);
  });

  it('refuses a big chunk without a newline without buffering it', () => {
    const reader = new LineReader();
    assert.equal(reader.push(Buffer.alloc(16 * MAX_REQUEST_BYTES, 0x78)), 'too-long');
    const state = reader as unknown as { buffered: Buffer[]; bufferedBytes: number };
    assert.equal(state.bufferedBytes, 0);
    assert.equal(state.buffered.reduce((sum, part) => sum + part.length, 0), 0);
  });

  it('copies the unfinished tail, so the caller may reuse its chunk buffer', () => {
    const reader = new LineReader();
    const chunk = Buffer.from('abc');
    reader.push(chunk);
    chunk.fill(0x7a);
    assert.deepEqual(reader.push(Buffer.from('\n')), ['abc']);
  });
});

describe('protocol properties', () => {
  it('parseRequest never throws: a known command, or an error reply with a code and a message', () => {
    const jsonish = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      fc.record({ id: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.object()), cmd: fc.oneof(fc.constantFrom(...COMMANDS), fc.string(), fc.integer()), job: fc.oneof(fc.string(), fc.integer()) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(jsonish, (line) => {
        const parsed = parseRequest(line);
        if (parsed.ok) {
          assert.ok((COMMANDS as readonly string[]).includes(parsed.request.cmd));
          if (parsed.request.cmd === 'run') assert.ok(typeof parsed.request.job === 'string' && parsed.request.job.length > 0);
          if (parsed.request.id !== undefined) assert.ok(['string', 'number'].includes(typeof parsed.request.id));
        } else {
          assert.equal(parsed.reply.ok, false);
          if (!parsed.reply.ok) {
            assert.match(parsed.reply.error.code, /^SCHEDD_[A-Z_]+$/);
            assert.ok(parsed.reply.error.message.length > 0);
          }
          // Whatever came in, the reply is one well-formed line.
          const encoded = encode(parsed.reply);
          assert.equal(encoded.indexOf('\n'), encoded.length - 1);
          assert.deepEqual(JSON.parse(encoded), parsed.reply);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('any chunking of a stream of lines yields exactly those lines', () => {
    // Lines hold no newline and do not end in CR (which the reader strips); they may hold any
    // other character, multi-byte ones included, so splits land inside UTF-8 sequences.
    const line = fc.string({ unit: 'binary', maxLength: 80 }).map((s) => s.replace(/\n/g, ' ').replace(/\r+$/, ''));
    const input = fc.tuple(fc.array(line, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), fc.boolean());
    fc.assert(
      fc.property(input, ([lines, cuts, crlf]) => {
        const bytes = Buffer.from(lines.map((l) => `${l}${crlf ? '\r\n' : '\n'}`).join(''));
        const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
        const reader = new LineReader();
        const out: string[] = [];
        let from = 0;
        for (const to of [...points, bytes.length]) {
          const got = reader.push(bytes.subarray(from, to));
          assert.notEqual(got, 'too-long');
          if (got !== 'too-long') out.push(...got);
          from = to;
        }
        assert.deepEqual(out, lines);
      }),
      { numRuns: 2000 },
    );
  });
});
