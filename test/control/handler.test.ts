import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DaemonApi } from '../../src/control/api.js';
import type { StatusResult } from '../../src/control/commands.js';
import { apiHandler } from '../../src/control/handler.js';
import { ScheddError } from '../../src/errors.js';

const status = { pid: 1, jobs: 0 } as unknown as StatusResult;

/** An API that answers each command with something of its own, and refuses unknown jobs as the daemon does. */
function fakeApi(calls: string[]): DaemonApi {
  return {
    status: async () => (calls.push('status'), status),
    list: async () => (calls.push('list'), []),
    run: async ({ job }) => {
      calls.push(`run ${job}`);
      if (job !== 'backup') throw new ScheddError('SCHEDD_UNKNOWN_JOB', `no job '${job}' (see schedd list)`);
      return { status: 'started', run: 'r1' };
    },
    reload: async () => (calls.push('reload'), { ok: true, errors: [], fileUnchanged: true, added: [], changed: [], removed: [], unchangedJobs: 0 }),
    'reopen-log': async () => (calls.push('reopen-log'), { reopened: true }),
    stop: async () => (calls.push('stop'), { stopping: true, pid: 1, schedulerPid: 2 }),
    ping: async () => (calls.push('ping'), { pong: true }),
    services: async () => (calls.push('services'), { services: [] }),
    service: async ({ action, name }) => (calls.push(`service ${action} ${name}`), { action, name, instances: [] }),
  };
}

describe('apiHandler', () => {
  it('sends each command to its method and its answer back, with the id', async () => {
    const calls: string[] = [];
    const handle = apiHandler(fakeApi(calls));
    assert.deepEqual(await handle({ id: 1, cmd: 'ping' }), { id: 1, ok: true, result: { pong: true } });
    assert.deepEqual(await handle({ cmd: 'status' }), { ok: true, result: status });
    assert.deepEqual(await handle({ id: 'r', cmd: 'run', job: 'backup' }), { id: 'r', ok: true, result: { status: 'started', run: 'r1' } });
    assert.deepEqual(await handle({ cmd: 'stop' }), { ok: true, result: { stopping: true, pid: 1, schedulerPid: 2 } });
    await handle({ cmd: 'list' });
    await handle({ cmd: 'reload' });
    await handle({ cmd: 'reopen-log' });
    assert.deepEqual(await handle({ cmd: 'service', action: 'restart', name: 'worker' }), { ok: true, result: { action: 'restart', name: 'worker', instances: [] } });
    await handle({ cmd: 'services' });
    assert.deepEqual(calls, ['ping', 'status', 'run backup', 'stop', 'list', 'reload', 'reopen-log', 'service restart worker', 'services']);
  });

  it('a refusal with a code is an error reply with that code and message', async () => {
    const handle = apiHandler(fakeApi([]));
    assert.deepEqual(await handle({ id: 7, cmd: 'run', job: 'nope' }), { id: 7, ok: false, error: { code: 'SCHEDD_UNKNOWN_JOB', message: "no job 'nope' (see schedd list)" } });
  });

  it("any other error is the server's (it logs it and answers SCHEDD_INTERNAL)", async () => {
    const api = { ...fakeApi([]), status: async () => Promise.reject(new Error('disk on fire')) };
    await assert.rejects(apiHandler(api)({ cmd: 'status' }), /disk on fire/);
  });
});
