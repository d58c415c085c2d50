// One process of the busy condition's load (see load/start.ts): `cpu` spins, `disk` writes and
// fsyncs a file in a loop. Between bursts of work it checks that the bench that spawned it is
// still its parent and exits when it is not, so a bench killed with SIGKILL cannot leave it
// running (Linux has PR_SET_PDEATHSIG for this, Node has no binding for it).
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';

const [kind, file] = process.argv.slice(2);
const parentPid = process.ppid;
/** Work between two looks at the parent: short enough to follow it within a tenth of a second. */
const BURST_MS = 100;
const CHUNK_BYTES = 1 << 20;
/** The disk writer cycles over this much of its file, so it never fills the disk. */
const FILE_BYTES = 64 << 20;

function orphaned(): boolean {
  return process.ppid !== parentPid;
}

function spin(): void {
  let x = 0;
  for (;;) {
    const until = Date.now() + BURST_MS;
    while (Date.now() < until) for (let i = 0; i < 10_000; i++) x = (x * 1103515245 + 12345) % 2147483648;
    if (orphaned()) process.exit(x === -1 ? 1 : 0);
  }
}

function write(path: string): void {
  const chunk = Buffer.alloc(CHUNK_BYTES, 0x5a);
  const fd = openSync(path, 'w');
  let position = 0;
  for (;;) {
    const until = Date.now() + BURST_MS;
    while (Date.now() < until) {
      writeSync(fd, chunk, 0, CHUNK_BYTES, position);
      fsyncSync(fd);
      position = (position + CHUNK_BYTES) % FILE_BYTES;
    }
    if (orphaned()) {
      closeSync(fd);
      rmSync(path, { force: true });
      process.exit(0);
    }
  }
}

if (kind === 'cpu') spin();
else if (kind === 'disk' && file !== undefined) write(file);
else {
  process.stderr.write('usage: worker.js cpu | disk FILE\n');
  process.exit(2);
}
