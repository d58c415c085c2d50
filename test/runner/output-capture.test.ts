import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OutputCapture } from '../../src/runner/output-capture.js';

function capture(headBytes: number, tailBytes: number, chunks: string[]): ReturnType<OutputCapture['result']> {
  const c = new OutputCapture(headBytes, tailBytes);
  for (const chunk of chunks) c.add(Buffer.from(chunk));
  return c.result();
}

describe('OutputCapture', () => {
  it('keeps everything in head while it fits', () => {
    assert.deepEqual(capture(8, 4, ['abc', 'de']), { head: 'abcde', tail: '', bytes: 5, truncated: false });
  });

  it('keeps the last bytes in a ring across many small chunks', () => {
    assert.deepEqual(capture(2, 4, ['ab', 'c', 'de', 'f', 'ghi', 'j']), {
      head: 'ab',
      tail: 'ghij',
      bytes: 10,
      truncated: true,
    });
  });

  it('handles a chunk larger than the ring and a zero-sized tail', () => {
    assert.deepEqual(capture(2, 3, ['a', 'bcdefgh', 'i']), { head: 'ab', tail: 'ghi', bytes: 9, truncated: true });
    assert.deepEqual(capture(2, 0, ['abc']), { head: 'ab', tail: '', bytes: 3, truncated: true });
  });
});
