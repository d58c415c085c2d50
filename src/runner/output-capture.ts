// Keeps the first headBytes and the last tailBytes of a job's combined output in two fixed
// fixed buffers, so capture costs the same for 1 KB or 1 GB of output.
import type { CapturedOutput } from './types.js';

export class OutputCapture {
  /** Made at the first byte (and the ring at the first byte past the head), not zero-filled: a run that prints nothing (a service, whose output goes to files; a prepared run at its gate) costs none of it. */
  private head: Buffer | null = null;
  private headLength = 0;
  /** Ring of the bytes after the head; ringEnd is where the next byte goes. */
  private ring: Buffer | null = null;
  private ringEnd = 0;
  private ringLength = 0;
  private totalBytes = 0;

  constructor(
    private readonly headBytes: number,
    private readonly tailBytes: number,
  ) {}

  get bytes(): number {
    return this.totalBytes;
  }

  add(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    let rest = chunk;
    if (this.headLength < this.headBytes) {
      // Only the bytes written are ever read (headLength, ringLength): no need to zero them.
      this.head ??= Buffer.allocUnsafe(this.headBytes);
      const copied = rest.copy(this.head, this.headLength);
      this.headLength += copied;
      rest = rest.subarray(copied);
    }
    const size = this.tailBytes;
    if (rest.length === 0 || size === 0) return;
    const ring = (this.ring ??= Buffer.allocUnsafe(size));
    if (rest.length >= size) {
      rest.copy(ring, 0, rest.length - size);
      this.ringEnd = 0;
      this.ringLength = size;
      return;
    }
    const first = Math.min(rest.length, size - this.ringEnd);
    rest.copy(ring, this.ringEnd, 0, first);
    rest.copy(ring, 0, first);
    this.ringEnd = (this.ringEnd + rest.length) % size;
    this.ringLength = Math.min(size, this.ringLength + rest.length);
  }

  /** Head and tail as UTF-8; a character split at either boundary decodes as U+FFFD. */
  result(): CapturedOutput {
    const size = this.tailBytes;
    const ring = this.ring ?? Buffer.alloc(0);
    const start = size === 0 || this.ring === null ? 0 : (this.ringEnd - this.ringLength + size) % size;
    const tail =
      start + this.ringLength <= size
        ? ring.subarray(start, start + this.ringLength)
        : Buffer.concat([ring.subarray(start), ring.subarray(0, this.ringEnd)]);
    return {
      head: this.head === null ? '' : this.head.toString('utf8', 0, this.headLength),
      tail: tail.toString('utf8'),
      bytes: this.totalBytes,
      truncated: this.totalBytes > this.headLength + this.ringLength,
    };
  }
}
