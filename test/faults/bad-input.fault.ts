// Scenario 3, bad input: the crontab parser over 100,000 generated files (in process, plus a
// sample through the real `schedd check`), and the control socket of a running daemon under
// malformed, binary, oversized, half-open, slow and too many clients, while a well-behaved
// client keeps asking for status and a per-second job keeps writing the ledger.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { validateJobSet } from '../../src/sources/validate.js';
import { runCli } from '../helpers/cli.js';
import { killAllDaemons, workspace } from '../helpers/daemon.js';
import { generateCrontab } from './bad-input-corpus.js';
import { checkParse, numberedLines } from './bad-input-invariants.js';
import { fuzzControlSocket } from './bad-input-socket.js';
import { doubledSlots, ledgerCommand, readLedger, reportFigures } from './ledger.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

const FILES = 100_000;
const CLI_SAMPLE = 150;
// A fresh corpus each run, reproducible from the seed printed with any failure.
const seed = Number(process.env.SCHEDD_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 32));
const figures: Record<string, number | string | boolean> = { seed };

function failure(index: number, text: string, error: Error): Error {
  return new Error(`crontab #${index} of seed ${seed} (SCHEDD_FAULT_SEED=${seed} to replay): ${error.message}\n${JSON.stringify(text.slice(0, 3000))}`);
}

test('bad input: 100,000 generated crontabs parse to entries or located diagnostics, never a crash', () => {
  let bytes = 0;
  let withErrors = 0;
  let diagnostics = 0;
  let entries = 0;
  for (let index = 0; index < FILES; index++) {
    const text = generateCrontab(seed, index);
    bytes += text.length;
    let result;
    try {
      result = checkParse(text, index % 4 === 3);
    } catch (error) {
      throw failure(index, text, error as Error);
    }
    if (result.errors > 0) withErrors++;
    diagnostics += result.errors + result.warnings;
    entries += result.entries;
  }
  // The corpus must exercise both sides: a generator that only made valid (or only broken)
  // files would pass without testing what it claims to.
  assert.ok(withErrors > FILES * 0.1 && withErrors < FILES * 0.9, `${withErrors} of ${FILES} files had errors`);
  Object.assign(figures, { crontabFiles: FILES, crontabChars: bytes, crontabsWithErrors: withErrors, diagnostics, entriesAccepted: entries });
});

test(`bad input: ${CLI_SAMPLE} of them through \`schedd check\`: exit code and one FILE:LINE:COL line per diagnostic`, async (t) => {
  const ws = workspace(t);
  const indexes = Array.from({ length: CLI_SAMPLE }, (_, i) => Math.floor((i * FILES) / CLI_SAMPLE) + (i % 7));
  let checked = 0;
  const checkOne = async (index: number): Promise<void> => {
    const path = ws.write(`crontab-${index}`, generateCrontab(seed, index));
    // What the CLI reads (invalid UTF-16 became U+FFFD on the way to the file).
    const text = readFileSync(path, 'utf8');
    const parsed = checkParse(text, false);
    // check adds what only this machine tells (users, cwd= directories): the same validation as start.
    const machine = validateJobSet(text, { id: '', path, name: path, system: false }).problems.filter((p) => p.machine);
    const machineErrors = machine.filter((p) => p.severity === 'error').length;
    const expected = { errors: parsed.errors + machineErrors, warnings: parsed.warnings + machine.length - machineErrors, entries: parsed.entries };
    const result = await runCli(['check', path]);
    const stderr = result.stderr.split('\n').filter((line) => line !== '');
    try {
      const located = stderr.filter((line) => line.startsWith(`${path}:`) && !line.startsWith(`${path}: `));
      for (const line of located) {
        const match = /^:(\d+):(\d+): (warning: )?\S/.exec(line.slice(path.length));
        assert.ok(match, `not FILE:LINE:COL: message: ${line}`);
        const lineNo = Number(match[1]);
        assert.ok(lineNo >= 1 && lineNo <= numberedLines(text).length, `line ${lineNo} outside the file: ${line}`);
      }
      assert.equal(located.length, expected.errors + expected.warnings, 'one line per diagnostic');
      if (expected.errors > 0) {
        assert.equal(result.code, 1);
        assert.deepEqual(stderr.slice(located.length), [`${path}: ${expected.errors} error${expected.errors === 1 ? '' : 's'}, ${expected.warnings} warning${expected.warnings === 1 ? '' : 's'}`]);
        assert.equal(result.stdout, '');
      } else {
        assert.equal(result.code, 0);
        assert.equal(stderr.length, located.length);
        assert.match(result.stdout, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ok, ${expected.entries} jobs?( \\(\\d+ warnings?\\))?\\n$`));
      }
    } catch (error) {
      throw failure(index, text, new Error(`${(error as Error).message}\nexit ${result.code}\nstderr: ${result.stderr.slice(0, 2000)}`));
    }
    checked++;
  };
  // Two at a time: the machine is shared.
  for (let i = 0; i < indexes.length; i += 2) await Promise.all(indexes.slice(i, i + 2).map(checkOne));
  assert.equal(checked, CLI_SAMPLE);
  figures.checkCliFiles = checked;
});

test('bad input: the control socket survives hostile clients, keeps answering status, and memory stays bounded', async (t) => {
  const ws = workspace(t);
  const ledger = ws.path('ledger');
  ws.write('crontab', `# schedd: name=tick overlap=allow\n* * * * * * ${ledgerCommand(ledger)}\n`);
  const daemon = ws.start();
  await daemon.waitFor({ msg: 'schedd started' });
  await waitUntil('the first tick', () => readLedger(ledger).some((e) => e.kind === 'end'), 15_000);
  const result = await fuzzControlSocket({ pid: daemon.pid, socket: ws.path('state/schedd.sock'), seed });
  const fuzzEndedAt = Date.now();
  assert.equal(daemon.all(() => true).filter((r) => r.level >= 50).length, 0, `error records: ${JSON.stringify(daemon.all((r) => r.level >= 50).slice(0, 5))}`);
  // The job kept firing through it all: one run per second, none doubled, none missing.
  await waitUntil('a tick after the fuzzing', () => readLedger(ledger).some((e) => e.kind === 'start' && e.atMs > fuzzEndedAt), 10_000);
  const stop = await runCli(['stop', '--state-dir', ws.path('state')]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal((await daemon.waitExit()).code, 0);
  const events = readLedger(ledger);
  const slots = events.filter((e) => e.kind === 'start').map((e) => Date.parse(e.scheduledAt)).sort((a, b) => a - b);
  const expectedSlots = (slots[slots.length - 1]! - slots[0]!) / 1000 + 1;
  assert.equal(doubledSlots(events).size, 0);
  assert.equal(new Set(slots).size, expectedSlots, 'every second between the first and last tick ran once');
  assert.equal(events.filter((e) => e.kind === 'end').length, slots.length, 'every tick ended');
  Object.assign(figures, result, { ticks: slots.length, lostTicks: 0, doubledTicks: 0, crashes: 0 });
  t.diagnostic(reportFigures('bad-input', figures));
});
