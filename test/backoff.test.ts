import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs, crashesInWindow, failuresInARow, RESTART_BACKOFF, RESTART_CRASH_WINDOW, RETRY_BACKOFF, tooManyCrashes } from '../src/backoff.js';

describe('backoff', () => {
  it('retries wait 1 s, doubling, at most 10 minutes', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 10, 11, 50].map((n) => backoffDelayMs(RETRY_BACKOFF, n)),
      [1000, 2000, 4000, 8000, 512_000, 600_000, 600_000],
    );
  });

  it('restarts wait 1 s, doubling, at most 60 s', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffDelayMs(RESTART_BACKOFF, n)),
      [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000],
    );
  });

  it('a failure after healthy running starts the count afresh', () => {
    assert.equal(failuresInARow(0, 10, 60_000), 1);
    assert.equal(failuresInARow(4, 60_000, 60_000), 5);
    assert.equal(failuresInARow(4, 60_001, 60_000), 1);
  });

  it('five crashes within a minute give up; older ones leave the window', () => {
    let crashes: number[] = [];
    const verdicts: boolean[] = [];
    for (const at of [0, 10_000, 20_000, 30_000]) {
      crashes = crashesInWindow(crashes, at, RESTART_CRASH_WINDOW);
      verdicts.push(tooManyCrashes(crashes, RESTART_CRASH_WINDOW));
    }
    // 70 s: the crash at 0 has left the window (exactly 60 s ago would still count).
    crashes = crashesInWindow(crashes, 70_000, RESTART_CRASH_WINDOW);
    verdicts.push(tooManyCrashes(crashes, RESTART_CRASH_WINDOW));
    assert.deepEqual(crashes, [10_000, 20_000, 30_000, 70_000]);
    crashes = crashesInWindow(crashes, 70_000, RESTART_CRASH_WINDOW);
    verdicts.push(tooManyCrashes(crashes, RESTART_CRASH_WINDOW));
    assert.deepEqual(verdicts, [false, false, false, false, false, true]);
    assert.deepEqual(crashesInWindow([10_000], 70_000, RESTART_CRASH_WINDOW), [10_000, 70_000]);
  });
});
