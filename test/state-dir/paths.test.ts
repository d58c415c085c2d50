import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootIdPath, crontabSocketPath, historyPath, lockSecretPath, logPath, pidfilePath, socketPath, stateEntryKind } from '../../src/state-dir/paths.js';

describe('state directory layout', () => {
  it('names every file schedd makes there', () => {
    assert.deepEqual(
      [pidfilePath('/s'), socketPath('/s'), crontabSocketPath('/s'), logPath('/s'), historyPath('/s'), lockSecretPath('/s'), bootIdPath('/s')],
      ['/s/schedd.pid', '/s/schedd.sock', '/s/crontab.sock', '/s/schedd.log', '/s/history.db', '/s/schedd.lock', '/s/reboot-boot-id'],
    );
  });

  it('knows the kind each entry must be (the directory check refuses the wrong one)', () => {
    const kinds = Object.fromEntries(
      ['schedd.sock', 'crontab.sock', 'schedd.pid', 'schedd.log', 'schedd.log.1', 'schedd.log.', 'schedd.lock', 'reboot-boot-id', 'schedd.pid.42.tmp', 'history.db', 'history.db-wal', 'history.db-shm', 'history.db-journal', 'history.dbx', 'history.db-x', 'notes.txt'].map((name) => [name, stateEntryKind(name)]),
    );
    assert.deepEqual(kinds, {
      'schedd.sock': 'socket',
      'crontab.sock': 'socket',
      'schedd.pid': 'file',
      'schedd.log': 'file',
      'schedd.log.1': 'rotated-log',
      'schedd.log.': null,
      'schedd.lock': 'file',
      'reboot-boot-id': 'file',
      'schedd.pid.42.tmp': 'file',
      'history.db': 'file',
      'history.db-wal': 'file',
      'history.db-shm': 'file',
      'history.db-journal': 'file',
      'history.dbx': null,
      'history.db-x': null,
      'notes.txt': null,
    });
  });
});
