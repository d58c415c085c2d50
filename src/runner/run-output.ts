// Everything a run does with its child's output: capture head and tail, split each stream into
// lines for onLine, and enforce the per-line and per-run caps. Memory use is fixed by the
// options (head + tail + one pending line per stream), not by what the child prints.
import { LineSplitter } from './line-splitter.js';
import { OutputCapture } from './output-capture.js';
import type { CapturedOutput, OutputStream, RunHooks, RunOptions, TruncationInfo } from './types.js';

export class RunOutput {
  private readonly capture: OutputCapture;
  private readonly splitters: Record<OutputStream, LineSplitter>;
  private emittedBytes = 0;
  private linesCut = 0;
  private capReached = false;

  constructor(
    private readonly options: RunOptions,
    private readonly onLine: RunHooks['onLine'],
  ) {
    this.capture = new OutputCapture(options.headBytes, options.tailBytes);
    this.splitters = {
      stdout: new LineSplitter(options.maxLineBytes, (line, dropped, terminated) =>
        this.emit('stdout', line, dropped, terminated),
      ),
      stderr: new LineSplitter(options.maxLineBytes, (line, dropped, terminated) =>
        this.emit('stderr', line, dropped, terminated),
      ),
    };
  }

  write(stream: OutputStream, chunk: Buffer): void {
    this.capture.add(chunk);
    // Past the cap the bytes are only counted: no splitting, no copies.
    if (!this.capReached) this.splitters[stream].push(chunk);
  }

  /** End of a stream (EOF or destroyed after the drain grace). */
  end(stream: OutputStream): void {
    if (!this.capReached) this.splitters[stream].end();
  }

  captured(): CapturedOutput {
    return this.capture.result();
  }

  /** Null when every byte reached onLine. */
  truncation(): TruncationInfo | null {
    const totalBytes = this.capture.bytes;
    const droppedBytes = totalBytes - this.emittedBytes;
    if (droppedBytes === 0) return null;
    return {
      totalBytes,
      emittedBytes: this.emittedBytes,
      droppedBytes,
      linesCut: this.linesCut,
      capReached: this.capReached,
    };
  }

  private emit(stream: OutputStream, line: Buffer, droppedBytes: number, terminated: boolean): void {
    if (this.capReached) return;
    // The newline counts as emitted so that emitted + dropped always equals the total.
    const costBytes = line.length + (terminated ? 1 : 0);
    if (this.emittedBytes + costBytes > this.options.maxEmittedBytes) {
      this.capReached = true;
      return;
    }
    this.emittedBytes += costBytes;
    let text = line.toString('utf8');
    if (droppedBytes > 0) {
      this.linesCut++;
      text += ` [line truncated: ${droppedBytes} bytes dropped]`;
    }
    this.onLine?.(stream, text);
  }
}
