import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TABLE_BYTES, parseHello, parseReply, parseRequest, proofText } from '../../src/spool/protocol.js';

describe('spool protocol', () => {
  const nonce = 'a'.repeat(64);

  it('accepts the three requests, and only what each takes', () => {
    assert.deepEqual(parseRequest('{"op":"list","cronRoot":"/","proof":"/tmp/d/p"}'), { ok: true, value: { op: 'list', cronRoot: '/', proof: '/tmp/d/p' } });
    assert.deepEqual(parseRequest('{"op":"install","cronRoot":"/","proof":"/tmp/d/p","name":"-","text":"@daily x\\n"}'), {
      ok: true,
      value: { op: 'install', cronRoot: '/', proof: '/tmp/d/p', name: '-', text: '@daily x\n' },
    });
    assert.deepEqual(parseRequest('{"op":"remove","cronRoot":"/","proof":"/tmp/d/p","text":"x"}'), { ok: false, message: "'text' is only for 'install'" });
    assert.deepEqual(parseRequest('{"op":"install","cronRoot":"/","proof":"/tmp/d/p"}'), { ok: false, message: "'install' needs 'text', the table" });
  });

  it('refuses malformed and oversized requests with one line', () => {
    assert.deepEqual(parseRequest('[1]'), { ok: false, message: 'expected a JSON object' });
    assert.deepEqual(parseRequest('{"op":"cat","cronRoot":"/","proof":"/tmp/d/p"}'), { ok: false, message: "'op' must be one of list, install, remove" });
    assert.deepEqual(parseRequest('{"op":"list","cronRoot":"relative","proof":"/tmp/d/p"}'), { ok: false, message: "'cronRoot' must be an absolute path" });
    assert.deepEqual(parseRequest(`{"op":"list","cronRoot":"/","proof":"/${'x'.repeat(300)}"}`), { ok: false, message: "'proof' must be an absolute path of at most 256 characters" });
    const big = JSON.stringify({ op: 'install', cronRoot: '/', proof: '/tmp/d/p', text: 'x'.repeat(MAX_TABLE_BYTES + 1) });
    assert.deepEqual(parseRequest(big), { ok: false, message: 'the table is over 64 KiB' });
    assert.equal(parseRequest('{').ok, false);
  });

  it('binds the proof to the nonce and to every field of the request', () => {
    const base = { op: 'install' as const, cronRoot: '/', name: '-', text: '@daily x\n' };
    const proof = proofText(nonce, base);
    assert.match(proof, /^schedd-crontab-proof\/1 a{64} [0-9a-f]{64}\n$/);
    assert.equal(proofText(nonce, { ...base }), proof);
    for (const other of [{ ...base, op: 'remove' as const }, { ...base, cronRoot: '/srv' }, { ...base, name: 'f' }, { ...base, text: '@daily y\n' }]) assert.notEqual(proofText(nonce, other), proof);
    assert.notEqual(proofText('b'.repeat(64), base), proof);
  });

  it('checks the greeting and each reply field by field', () => {
    assert.deepEqual(parseHello(`{"v":1,"nonce":"${nonce}"}`), { ok: true, value: { v: 1, nonce } });
    assert.equal(parseHello('{"v":2,"nonce":"x"}').ok, false);
    assert.equal(parseHello('{"v":1,"nonce":"short"}').ok, false);
    assert.deepEqual(parseReply('list', '{"ok":true,"result":{"user":"alice","text":null}}'), { ok: true, value: { ok: true, result: { user: 'alice', text: null } } });
    assert.deepEqual(parseReply('remove', '{"ok":true,"result":{"user":"alice","text":null}}'), { ok: false, message: "not a reply to 'remove'" });
    assert.deepEqual(parseReply('install', '{"ok":true,"result":{"user":"a","installed":true,"jobs":1,"errors":[3],"errorCount":0,"warnings":[]}}'), { ok: false, message: "not a reply to 'install'" });
    assert.deepEqual(parseReply('list', '{"ok":false,"error":{"code":"X","message":"m"}}'), { ok: true, value: { ok: false, error: { code: 'X', message: 'm' } } });
    assert.equal(parseReply('list', '{"ok":false}').ok, false);
  });
});
