// Services (issue 14): the control protocol's `service` request (src/control/protocol.ts), and
// signalName, which the CLI and the protocol share.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRequest, signalName, type Parsed } from '../../src/control/protocol.js';

function bad(message: string, id?: string | number): Parsed {
  const error = { code: 'SCHEDD_BAD_REQUEST', message };
  return { ok: false, reply: id === undefined ? { ok: false, error } : { id, ok: false, error } };
}

const needsAction = "'service' needs 'action', one of start, stop, restart, reload, signal";
const needsName = "'service' needs 'name', the id of a service (see schedd services)";
const badInstance = "'instance' must be an integer 0-999 (expected an instance number, see schedd services)";
const needsSignal = "'signal' needs 'signal', a signal name such as USR1 or SIGUSR1";
const signalOnlyForSignal = "'signal' is only for action 'signal'";

describe("parseRequest: 'service'", () => {
  const cases: Array<[string, object, Parsed]> = [
    ['start', { cmd: 'service', action: 'start', name: 'web' }, { ok: true, request: { cmd: 'service', action: 'start', name: 'web' } }],
    ['stop with an id', { id: 7, cmd: 'service', action: 'stop', name: 'web' }, { ok: true, request: { id: 7, cmd: 'service', action: 'stop', name: 'web' } }],
    ['restart one instance', { cmd: 'service', action: 'restart', name: 'pool', instance: 2 }, { ok: true, request: { cmd: 'service', action: 'restart', name: 'pool', instance: 2 } }],
    ['instance 0', { cmd: 'service', action: 'reload', name: 'pool', instance: 0 }, { ok: true, request: { cmd: 'service', action: 'reload', name: 'pool', instance: 0 } }],
    ['the highest instance', { cmd: 'service', action: 'stop', name: 'pool', instance: 999 }, { ok: true, request: { cmd: 'service', action: 'stop', name: 'pool', instance: 999 } }],
    ['signal, named without SIG', { cmd: 'service', action: 'signal', name: 'web', signal: 'USR1' }, { ok: true, request: { cmd: 'service', action: 'signal', name: 'web', signal: 'SIGUSR1' } }],
    ['signal, lower case', { id: 'x', cmd: 'service', action: 'signal', name: 'web', signal: 'sighup', instance: 1 }, { ok: true, request: { id: 'x', cmd: 'service', action: 'signal', name: 'web', instance: 1, signal: 'SIGHUP' } }],
    ['extra fields dropped', { cmd: 'service', action: 'start', name: 'web', force: true }, { ok: true, request: { cmd: 'service', action: 'start', name: 'web' } }],
    ['no action', { cmd: 'service', name: 'web' }, bad(needsAction)],
    ['an unknown action', { id: 1, cmd: 'service', action: 'kill', name: 'web' }, bad(needsAction, 1)],
    ['an action in capitals', { cmd: 'service', action: 'START', name: 'web' }, bad(needsAction)],
    ['an action that is not a string', { cmd: 'service', action: ['start'], name: 'web' }, bad(needsAction)],
    ['no name', { cmd: 'service', action: 'start' }, bad(needsName)],
    ['an empty name', { cmd: 'service', action: 'start', name: '' }, bad(needsName)],
    ['a numeric name', { cmd: 'service', action: 'start', name: 5 }, bad(needsName)],
    ['a negative instance', { cmd: 'service', action: 'stop', name: 'pool', instance: -1 }, bad(badInstance)],
    ['a fractional instance', { cmd: 'service', action: 'stop', name: 'pool', instance: 1.5 }, bad(badInstance)],
    ['an instance as a string', { cmd: 'service', action: 'stop', name: 'pool', instance: '1' }, bad(badInstance)],
    ['a null instance', { cmd: 'service', action: 'stop', name: 'pool', instance: null }, bad(badInstance)],
    ['an instance past 999', { id: 'i', cmd: 'service', action: 'stop', name: 'pool', instance: 1000 }, bad(badInstance, 'i')],
    ['signal without a signal', { cmd: 'service', action: 'signal', name: 'web' }, bad(needsSignal)],
    ['signal with an unknown signal', { cmd: 'service', action: 'signal', name: 'web', signal: 'SIGFOO' }, bad(needsSignal)],
    ['signal by number', { cmd: 'service', action: 'signal', name: 'web', signal: 9 }, bad(needsSignal)],
    ['signal with an empty name', { cmd: 'service', action: 'signal', name: 'web', signal: '' }, bad(needsSignal)],
    ['a signal on another action', { cmd: 'service', action: 'reload', name: 'web', signal: 'HUP' }, bad(signalOnlyForSignal)],
  ];
  for (const [name, request, expected] of cases) {
    it(name, () => assert.deepEqual(parseRequest(JSON.stringify(request)), expected));
  }

  it('services takes no fields', () => {
    assert.deepEqual(parseRequest('{"cmd":"services","name":"web"}'), { ok: true, request: { cmd: 'services' } });
  });
});

describe('signalName', () => {
  const cases: Array<[string, string | null]> = [
    ['HUP', 'SIGHUP'],
    ['SIGTERM', 'SIGTERM'],
    ['usr2', 'SIGUSR2'],
    ['SigWinch', 'SIGWINCH'],
    ['SIGSIGHUP', null],
    ['SIG', null],
    ['', null],
    ['9', null],
    ['SIGRTMIN', null],
    [' HUP', null],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} -> ${expected}`, () => assert.equal(signalName(text), expected));
  }
});
