// Scenario 4, hostile jobs: one daemon runs a job that prints a gigabyte, process trees that
// ignore SIGTERM, a job that closes its stdout and keeps running, and per-second jobs that exit
// at once, all together. Checked: the daemon's memory and descriptors stay bounded, a timeout
// kills the whole process group, and after `schedd stop` no process of any job is left.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { call } from '../../src/control/client.js';
import { runCli } from '../helpers/cli.js';
import { hasExited, killAllDaemons, RUN_END_MESSAGES, workspace, type LogRecord } from '../helpers/daemon.js';
import { fdCount, RssSampler } from './bad-input-clients.js';
import { FLOOD_BYTES, FLOOD_LINE, FLOOD_SCRIPT, liveInGroups, pidsIn, TREE_SCRIPT, treeSize } from './hostile-helpers.js';
import { doubledSlots, ledgerCommand, readLedger, reportFigures } from './ledger.js';
import { waitUntil } from '../helpers/wait.js';

after(killAllDaemons);

const MiB = 1024 * 1024;
const RSS_ALLOWANCE = 100 * MiB;
const BLINKS = ['blink-1', 'blink-2', 'blink-3'];
/** How long the per-second jobs run under observation. */
const OBSERVE_MS = 20_000;
/** Descriptors are compared at rest: the fewest open in the first and in the last such window. */
const FD_WINDOW_MS = 3000;
const NEVER = '0 0 1 1 *'; // started by `run` only
const ZOMBIE_TOLERANT = (reason: string): RegExp => new RegExp(`^${reason}(; SIGKILL after 1s grace)?$`);

test('hostile jobs: bounded memory, whole trees killed on timeout and on stop, nothing left behind', async (t) => {
  const ws = workspace(t);
  const ledger = ws.path('ledger');
  ws.write('tree.sh', TREE_SCRIPT);
  ws.write('flood.sh', FLOOD_SCRIPT);
  const blinks = BLINKS.map((name) => `# schedd: name=${name} overlap=allow\n* * * * * * ${ledgerCommand(ledger)}\n`).join('');
  ws.write(
    'crontab',
    `${blinks}` +
      `# schedd: name=blink-bare\n* * * * * * true\n` +
      `# schedd: name=flood timeout=120s\n${NEVER} sh flood.sh\n` +
      `# schedd: name=tree timeout=2s\n${NEVER} sh tree.sh pids-tree 3\n` +
      `# schedd: name=escape timeout=2s\n${NEVER} setsid sleep 1000 & echo $! > pid-escape; sleep 1000\n` +
      `# schedd: name=closer timeout=2s\n${NEVER} ${ledgerCommand(ledger, 'exec >&- 2>&-; sleep 1000')}\n` +
      `# schedd: name=tree-stop\n${NEVER} sh tree.sh pids-stop 2\n` +
      `# schedd: name=closer-stop\n${NEVER} ${ledgerCommand(ledger, 'exec >&- 2>&-; sleep 1000')}\n`,
  );
  const daemon = ws.start({ args: ['--kill-grace', '1s', '--stop-grace', '1s'] });
  await daemon.waitFor({ msg: 'schedd started' });
  const socket = ws.path('state/schedd.sock');
  const run = async (job: string): Promise<void> => void (await call(socket, { cmd: 'run', job }));
  const ended = (job: string, timeoutMs = 20_000): Promise<LogRecord> => daemon.waitFor((r) => r.job === job && RUN_END_MESSAGES.includes(r.msg), timeoutMs);
  let escapee = 0;
  t.after(() => {
    if (escapee > 1 && !hasExited(escapee)) process.kill(escapee, 'SIGKILL');
  });

  // Warm-up: the per-second jobs are running before anything is measured.
  await waitUntil('the blinks running', () => readLedger(ledger).filter((e) => e.kind === 'end').length >= 6, 15_000);
  const rss = new RssSampler(daemon.pid);
  const fds: { at: number; count: number }[] = [];
  const fdTimer = setInterval(() => fds.push({ at: Date.now(), count: fdCount(daemon.pid) }), 100);
  t.after(() => {
    clearInterval(fdTimer);
    rss.stop();
  });
  const observedFrom = Date.now();
  // The first descriptor window is taken with only the per-second jobs running.
  await waitUntil('a first window of descriptor samples', () => Date.now() >= observedFrom + FD_WINDOW_MS, FD_WINDOW_MS + 10_000);

  await Promise.all(['flood', 'tree', 'escape', 'closer'].map(run));

  // The flood: every byte read, 1 MiB of it logged, the rest counted, memory flat.
  const flood = await ended('flood', 120_000);
  assert.equal(flood.msg, 'job finished', JSON.stringify(flood));
  const floodLines = daemon.all({ job: 'flood', msg: 'job output' });
  const emittedLines = Math.floor(MiB / (FLOOD_LINE + 1));
  assert.equal(floodLines.length, emittedLines);
  assert.ok(floodLines.every((r) => r.stream === 'stdout' && r.line === 'y'.repeat(FLOOD_LINE)));
  const truncated = daemon.all({ job: 'flood', msg: 'job output truncated' });
  assert.deepEqual(truncated.map((r) => (r as { droppedBytes?: number }).droppedBytes), [FLOOD_BYTES - emittedLines * (FLOOD_LINE + 1)]);

  // A tree that ignores SIGTERM: SIGKILL after the grace, and every member of it is gone.
  const tree = await ended('tree');
  assert.deepEqual([tree.msg, tree.reason], ['job timed out', 'timed out after 2s; SIGKILL after 1s grace']);
  const treePids = pidsIn(ws.read('pids-tree'));
  assert.equal(treePids.length, treeSize(3));
  await waitUntil('every process of the timed-out tree gone', () => treePids.every(hasExited), 10_000);

  // A job that closes stdout and stderr is still running until it exits: timed out, not finished.
  const closer = await ended('closer');
  assert.equal(closer.msg, 'job timed out');
  // Killed by SIGTERM; a SIGKILL may follow only because an init that reaps slowly leaves the
  // reparented sleep a zombie, which still counts as a member of the group.
  assert.match(closer.reason!, ZOMBIE_TOLERANT('timed out after 2s'));
  assert.ok(closer.durationMs! >= 2000, `${closer.durationMs} ms`);
  const closerRuns = readLedger(ledger).filter((e) => e.job === 'closer');
  assert.deepEqual(closerRuns.map((e) => e.kind), ['start']);
  assert.ok(hasExited(closerRuns[0]!.pid));

  // What schedd does not promise: a process that left the group with setsid is out of reach of
  // a group kill. The shell and its sleep are killed; the escapee is cleaned up here.
  const escape = await ended('escape');
  assert.equal(escape.msg, 'job timed out');
  assert.match(escape.reason!, ZOMBIE_TOLERANT('timed out after 2s'));
  escapee = pidsIn(ws.read('pid-escape'))[0]!;
  assert.equal(hasExited(escapee), false, 'a setsid escapee survives the timeout (outside the group)');
  process.kill(escapee, 'SIGKILL');
  await waitUntil('the escapee gone', () => hasExited(escapee), 5000);

  // The per-second jobs go on under observation.
  await waitUntil(`${OBSERVE_MS} ms of per-second jobs`, () => Date.now() >= observedFrom + OBSERVE_MS, OBSERVE_MS + 60_000);

  // Stop while a SIGTERM-proof tree and a stdout-closing job are running.
  await Promise.all(['tree-stop', 'closer-stop'].map(run));
  await waitUntil('the stop tree built', () => pidsIn(ws.lines('pids-stop').join('\n')).length === treeSize(2), 10_000);
  await waitUntil('closer-stop started', () => readLedger(ledger).some((e) => e.job === 'closer-stop'), 10_000);
  clearInterval(fdTimer);
  rss.stop();
  const stop = await runCli(['stop', '--state-dir', ws.path('state')]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal((await daemon.waitExit()).code, 0);
  const stopped = ['tree-stop', 'closer-stop'].map((job) => daemon.all((r) => r.job === job && RUN_END_MESSAGES.includes(r.msg)));
  assert.deepEqual(stopped.map((records) => records.map((r) => [r.msg, r.reason])), [[['job killed', 'schedd is stopping; SIGKILL after 1s grace']], [['job killed', stopped[1]![0]?.reason]]]);
  assert.match(stopped[1]![0]!.reason!, ZOMBIE_TOLERANT('schedd is stopping'));

  // Nothing of any job is left: no recorded pid, no live member of any job's process group.
  const groups = new Set(daemon.all({ msg: 'job started' }).map((r) => r.pid!));
  const recorded = [...treePids, ...pidsIn(ws.read('pids-stop')), ...readLedger(ledger).map((e) => e.pid)];
  await waitUntil('every job process gone', () => recorded.every(hasExited) && liveInGroups(groups).length === 0, 10_000);

  // Memory and descriptors: bounded during the flood, no growth from thousands of short runs.
  assert.ok(rss.peak <= rss.baseline + RSS_ALLOWANCE, `RSS grew from ${rss.baseline} to ${rss.peak}`);
  const window = (from: number, to: number): number => Math.min(...fds.filter((s) => s.at >= from && s.at < to).map((s) => s.count));
  const fdFirst = window(observedFrom, observedFrom + FD_WINDOW_MS);
  const fdLast = window(observedFrom + OBSERVE_MS - FD_WINDOW_MS, observedFrom + OBSERVE_MS);
  assert.ok(fdLast <= fdFirst, `descriptors at rest grew from ${fdFirst} to ${fdLast}`);

  // The per-second jobs: one run per slot, none doubled or lost, every run ended.
  const events = readLedger(ledger);
  let blinkRuns = 0;
  for (const job of BLINKS) {
    const starts = events.filter((e) => e.job === job && e.kind === 'start');
    const slots = starts.map((e) => Date.parse(e.scheduledAt)).sort((a, b) => a - b);
    assert.equal(new Set(slots).size, (slots[slots.length - 1]! - slots[0]!) / 1000 + 1, `${job}: a slot without a run`);
    assert.equal(events.filter((e) => e.job === job && e.kind === 'end').length, starts.length, `${job}: a run without an end`);
    blinkRuns += starts.length;
  }
  assert.equal(doubledSlots(events).size, 0);
  const bareRuns = daemon.all({ job: 'blink-bare', msg: 'job finished' }).length;
  t.diagnostic(
    reportFigures('hostile-jobs', {
      bytesPrinted: FLOOD_BYTES,
      bytesLogged: emittedLines * (FLOOD_LINE + 1),
      rssBaselineMiB: Math.round(rss.baseline / MiB),
      rssPeakMiB: Math.round(rss.peak / MiB),
      fdsAtRestFirst: fdFirst,
      fdsAtRestLast: fdLast,
      instantRuns: blinkRuns + bareRuns,
      sigtermProofKilled: treePids.length + treeSize(2),
      runsTimedOut: daemon.all({ msg: 'job timed out' }).length,
      runsKilledOnStop: stopped.flat().length,
      setsidEscapees: 1,
      leftovers: 0,
      lost: 0,
      doubled: 0,
    }),
  );
});
