// Keeps the first headBytes and the last tailBytes of a job's combined output in two fixed
// buffers allocated up front, so capture costs the same for 1 KB or 1 GB of output.
import type { CapturedOutput } from './types.js';

export class OutputCapture {
  private readonly head: Buffer;
  private headLength = 0;
  /** Ring of the bytes after the head; ringEnd is where the next byte goes. */
  private readonly ring: Buffer;
  private ringEnd = 0;
  private ringLength = 0;
  private totalBytes = 0;

  constructor(headBytes: number, tailBytes: number) {
    this.head = Buffer.alloc(headBytes);
    this.ring = Buffer.alloc(tailBytes);
  }

  get bytes(): number {
    return this.totalBytes;
  }

  add(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    let rest = chunk;
    if (this.headLength < this.head.length) {
      const copied = rest.copy(this.head, this.headLength);
      this.headLength += copied;
      rest = rest.subarray(copied);
    }
    const size = this.ring.length;
    if (rest.length === 0 || size === 0) return;
    if (rest.length >= size) {
      rest.copy(this.ring, 0, rest.length - size);
      this.ringEnd = 0;
      this.ringLength = size;
      return;
    }
    const first = Math.min(rest.length, size - this.ringEnd);
    rest.copy(this.ring, this.ringEnd, 0, first);
    rest.copy(this.ring, 0, first);
    this.ringEnd = (this.ringEnd + rest.length) % size;
    this.ringLength = Math.min(size, this.ringLength + rest.length);
  }

  /** Head and tail as UTF-8; a character split at either boundary decodes as U+FFFD. */
  result(): CapturedOutput {
    const size = this.ring.length;
    const start = size === 0 ? 0 : (this.ringEnd - this.ringLength + size) % size;
    const tail =
      start + this.ringLength <= size
        ? this.ring.subarray(start, start + this.ringLength)
        : Buffer.concat([this.ring.subarray(start), this.ring.subarray(0, this.ringEnd)]);
    return {
      head: this.head.toString('utf8', 0, this.headLength),
      tail: tail.toString('utf8'),
      bytes: this.totalBytes,
      truncated: this.totalBytes > this.headLength + this.ringLength,
    };
  }
}
