// The ledger itself: a per-second job's own lines name its job, its slot and its run.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { killAllDaemons, workspace } from '../helpers/daemon.js';
import { doubledSlots, ledgerCommand, readLedger } from './ledger.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

test('ledger: a per-second job writes start and end lines with its slot', async (t) => {
  const ws = workspace(t);
  const ledger = ws.path('ledger');
  ws.write('crontab', `# schedd: name=tick\n* * * * * * ${ledgerCommand(ledger)}\n`);
  const daemon = ws.start();
  await daemon.waitFor({ msg: 'schedd started' });
  await waitUntil('two finished runs', () => readLedger(ledger).filter((e) => e.kind === 'end').length >= 2);
  await daemon.stop();
  const events = readLedger(ledger);
  const [first, second] = events;
  assert.deepEqual([first!.kind, first!.job, second!.kind, second!.run], ['start', 'tick', 'end', first!.run]);
  assert.match(first!.scheduledAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
  assert.ok(second!.atMs >= first!.atMs && first!.atMs - Date.parse(first!.scheduledAt) < 5000, JSON.stringify(events));
  assert.equal(doubledSlots(events).size, 0);
});
