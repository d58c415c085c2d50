// Splits one byte stream into lines while holding at most maxLineBytes of a pending line, so a
// child printing a 100 MB line without a newline costs the parent no more than one cut line.

const NEWLINE = 0x0a;

/**
 * `line` is at most maxLineBytes; `droppedBytes` is how much of the line was cut off;
 * `terminated` is false for a partial line flushed at end of stream.
 */
export type LineSink = (line: Buffer, droppedBytes: number, terminated: boolean) => void;

/** Index at or before `end` that does not fall inside a UTF-8 sequence of `buf`. */
function utf8Boundary(buf: Buffer, end: number): number {
  let i = end;
  // Continuation bytes are 10xxxxxx; back up to the lead byte so the cut line stays valid.
  // At most 3 steps: binary output full of such bytes must not shrink the line further.
  while (i > 0 && end - i < 3 && ((buf[i] ?? 0) & 0xc0) === 0x80) i--;
  return i;
}

export class LineSplitter {
  private parts: Buffer[] = [];
  private pendingBytes = 0;
  private droppedBytes = 0;
  private cut = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly sink: LineSink,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline === -1 ? chunk.length : newline;
      if (newline !== -1 && this.parts.length === 0 && !this.cut && end - start <= this.maxLineBytes) {
        // Fast path: a whole line inside this chunk, emitted without copying.
        this.sink(chunk.subarray(start, end), 0, true);
      } else {
        this.take(chunk.subarray(start, end));
        if (newline !== -1) this.flush(true);
      }
      if (newline === -1) return;
      start = newline + 1;
    }
  }

  /** End of stream: a trailing partial line is emitted too. */
  end(): void {
    if (this.pendingBytes > 0 || this.droppedBytes > 0) this.flush(false);
  }

  private take(segment: Buffer): void {
    if (this.cut) {
      this.droppedBytes += segment.length;
      return;
    }
    const room = this.maxLineBytes - this.pendingBytes;
    if (segment.length <= room) {
      // Copy: a subarray would pin the whole (possibly 64 KiB) chunk it came from.
      if (segment.length > 0) this.parts.push(Buffer.from(segment));
      this.pendingBytes += segment.length;
      return;
    }
    const keep = utf8Boundary(segment, room);
    if (keep > 0) this.parts.push(Buffer.from(segment.subarray(0, keep)));
    this.pendingBytes += keep;
    this.droppedBytes += segment.length - keep;
    this.cut = true;
  }

  private flush(terminated: boolean): void {
    const line = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    const droppedBytes = this.droppedBytes;
    this.parts = [];
    this.pendingBytes = 0;
    this.droppedBytes = 0;
    this.cut = false;
    this.sink(line, droppedBytes, terminated);
  }
}
