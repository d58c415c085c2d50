import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter } from '../../src/runner/line-splitter.js';

function split(maxLineBytes: number, chunks: string[]): Array<[string, number, boolean]> {
  const out: Array<[string, number, boolean]> = [];
  const splitter = new LineSplitter(maxLineBytes, (line, dropped, terminated) =>
    out.push([line.toString(), dropped, terminated]),
  );
  for (const chunk of chunks) splitter.push(Buffer.from(chunk));
  splitter.end();
  return out;
}

describe('LineSplitter', () => {
  it('joins lines across chunk boundaries and flushes a partial last line', () => {
    assert.deepEqual(split(100, ['ab', 'c\nde', '\n', '\n', 'f']), [
      ['abc', 0, true],
      ['de', 0, true],
      ['', 0, true],
      ['f', 0, false],
    ]);
  });

  it('emits nothing at end of stream when the last line was terminated', () => {
    assert.deepEqual(split(100, ['a\n']), [['a', 0, true]]);
    assert.deepEqual(split(100, []), []);
  });

  it('cuts a long line once and counts every dropped byte, across chunks', () => {
    assert.deepEqual(split(3, ['abcdef', 'gh', 'ij\nxy', 'z\nlong-tail']), [
      ['abc', 7, true],
      ['xyz', 0, true],
      ['lon', 6, false],
    ]);
  });
});
