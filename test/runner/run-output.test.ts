import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startRun } from '../../src/runner/run.js';
import type { RunResult, TruncationInfo } from '../../src/runner/types.js';
import { lineCollector, spec } from './helpers.js';

const MiB = 1024 * 1024;
const TOTAL_BYTES = 200_000_000;

/** Runs `command`, sampling the parent's RSS while it runs; returns the peak growth. */
async function runMeasured(
  command: string,
  onLine: (line: string) => void,
): Promise<{ result: RunResult; truncations: TruncationInfo[]; rssGrowthBytes: number }> {
  const baselineRss = process.memoryUsage().rss;
  let peakRss = baselineRss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 5);
  const truncations: TruncationInfo[] = [];
  const result = await startRun(spec({ command }), {
    onLine: (_stream, line) => onLine(line),
    onTruncated: (info) => truncations.push(info),
  }).done;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  return { result, truncations, rssGrowthBytes: peakRss - baselineRss };
}

describe('startRun: bounded output', () => {
  it('cuts a single 200 MB line to 64 KiB and keeps memory flat', async () => {
    const lines: string[] = [];
    const { result, truncations, rssGrowthBytes } = await runMeasured(
      `head -c ${TOTAL_BYTES} /dev/zero | tr '\\0' x`,
      (line) => lines.push(line),
    );
    assert.equal(result.outcome, 'ok');
    assert.deepEqual(lines, [`${'x'.repeat(64 * 1024)} [line truncated: ${TOTAL_BYTES - 64 * 1024} bytes dropped]`]);
    assert.deepEqual(truncations, [
      {
        totalBytes: TOTAL_BYTES,
        emittedBytes: 64 * 1024,
        droppedBytes: TOTAL_BYTES - 64 * 1024,
        linesCut: 1,
        capReached: false,
      },
    ]);
    assert.deepEqual(result.output, {
      head: 'x'.repeat(32 * 1024),
      tail: 'x'.repeat(32 * 1024),
      bytes: TOTAL_BYTES,
      truncated: true,
    });
    assert.ok(rssGrowthBytes < 100 * MiB, `rss grew by ${Math.round(rssGrowthBytes / MiB)} MiB`);
  });

  it('stops emitting lines after 1 MiB but drains all 200 MB', async () => {
    let count = 0;
    let others = 0;
    const { result, truncations, rssGrowthBytes } = await runMeasured(`yes | head -c ${TOTAL_BYTES}`, (line) => {
      count++;
      if (line !== 'y') others++;
    });
    assert.equal(result.outcome, 'ok');
    // Each "y\n" costs 2 bytes of the 1 MiB budget.
    assert.equal(count, MiB / 2);
    assert.equal(others, 0);
    assert.deepEqual(truncations, [
      { totalBytes: TOTAL_BYTES, emittedBytes: MiB, droppedBytes: TOTAL_BYTES - MiB, linesCut: 0, capReached: true },
    ]);
    assert.deepEqual(result.output, {
      head: 'y\n'.repeat(16 * 1024),
      tail: 'y\n'.repeat(16 * 1024),
      bytes: TOTAL_BYTES,
      truncated: true,
    });
    assert.ok(rssGrowthBytes < 100 * MiB, `rss grew by ${Math.round(rssGrowthBytes / MiB)} MiB`);
  });

  it('applies configured caps exactly: line cut, per-run cap, head and tail', async () => {
    const { lines, onLine } = lineCollector();
    const truncations: TruncationInfo[] = [];
    const handle = startRun(
      spec({ command: "printf 'abc\\n0123456789abc\\nde\\nfgh\\nijkl'" }),
      { onLine, onTruncated: (info) => truncations.push(info) },
      { maxLineBytes: 8, maxEmittedBytes: 20, headBytes: 4, tailBytes: 6 },
    );
    const result = await handle.done;
    // Costs: 4 + 9 (8 kept + newline) + 3 + 4 = 20; the partial "ijkl" would exceed the cap.
    assert.deepEqual(lines.stdout, ['abc', '01234567 [line truncated: 5 bytes dropped]', 'de', 'fgh']);
    assert.deepEqual(truncations, [
      { totalBytes: 29, emittedBytes: 20, droppedBytes: 9, linesCut: 1, capReached: true },
    ]);
    assert.deepEqual(result.output, { head: 'abc\n', tail: 'h\nijkl', bytes: 29, truncated: true });
  });

  it('does not split a UTF-8 character when cutting a line', async () => {
    const { lines, onLine } = lineCollector();
    await startRun(spec({ command: "printf 'a\\303\\251\\342\\202\\254\\n'" }), { onLine }, { maxLineBytes: 4 }).done;
    // "aé€" is 1 + 2 + 3 bytes; cutting at 4 would split "€", so 3 bytes are kept.
    assert.deepEqual(lines.stdout, ['aé [line truncated: 3 bytes dropped]']);
  });

  it('fills the tail without truncation when output fits in head + tail', async () => {
    const result = await startRun(spec({ command: "printf '0123456789'" }), {}, { headBytes: 4, tailBytes: 6 }).done;
    assert.deepEqual(result.output, { head: '0123', tail: '456789', bytes: 10, truncated: false });
  });
});
