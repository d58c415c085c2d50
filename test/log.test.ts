// The log file itself: opened without following links, rotated, and when it fails a write
// error costs log records (counted and reported), never the daemon.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { createLog, type Log } from '../src/log.js';
import { LogStream } from '../src/log-stream.js';
import { fillDisk, mountTinyTmpfs, unmount } from './helpers/tmpfs.js';

const logModule = new URL('../src/log.js', import.meta.url).href;
const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-log-'));
  dirs.push(dir);
  return dir;
}

/** A 1 MiB tmpfs in a temporary directory, unmounted after the test; null (skipped) if not possible. */
function tinyDisk(t: TestContext): string | null {
  const dir = tempDir();
  const why = mountTinyTmpfs(dir);
  if (why !== null) {
    t.skip(why);
    return null;
  }
  t.after(() => unmount(dir));
  return dir;
}

function flushed(log: Log): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}

function records(path: string): { msg: string; [key: string]: unknown }[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { msg: string });
}

describe('log file faults', () => {
  it('regression: a log on a full disk crashed the scheduler, whose exit then retried the write forever (jobs stopped, the watchdog never restarted it)', (t) => {
    const disk = tinyDisk(t);
    if (disk === null) return;
    fillDisk(join(disk, 'filler'));
    const script = `
      import { createLog } from ${JSON.stringify(logModule)};
      const log = createLog({ level: 'info', pretty: false, file: ${JSON.stringify(join(disk, 'schedd.log'))} });
      let ticks = 0;
      const timer = setInterval(() => {
        log.info({ count: ticks }, 'tick ' + 'x'.repeat(8192));
        if (++ticks === 5) { clearInterval(timer); process.stdout.write('alive after ' + ticks + ' records\\n'); }
      }, 20);
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.deepEqual({ status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr }, { status: 0, signal: null, stdout: 'alive after 5 records\n', stderr: '' });
  });

  it('regression (issue 11 item 15): while the log cannot be written, job output is dropped and counted, schedd records are kept, and the count is reported when it works again', async (t) => {
    const disk = tinyDisk(t);
    if (disk === null) return;
    const path = join(disk, 'schedd.log');
    const log = createLog({ level: 'info', pretty: false, file: path });
    log.info({}, 'before');
    await flushed(log);
    fillDisk(join(disk, 'filler'));
    // A write fails once the file's last page is used up; from then on job output is not kept.
    const line = 'y'.repeat(1000);
    let n = 0;
    while (log.dropped === 0 && n < 100_000) {
      log.info({ job: 'chatty', stream: 'stdout', line }, 'job output');
      if (++n % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(log.dropped > 0, 'no record was dropped on a full disk');
    const sizeAtFault = statSync(path).size;
    for (let i = 0; i < 2000; i++) log.info({ job: 'chatty', stream: 'stdout', line }, 'job output');
    for (let i = 0; i < 10; i++) log.info({ job: 'chatty', count: i }, 'job finished');
    const dropped = log.dropped;
    assert.ok(dropped >= 2000, `dropped ${dropped}`);
    rmSync(join(disk, 'filler'));
    // The report comes with the first write that works, or (the disk was found nearly full)
    // once a look at the disk finds room again: that look is taken at most once a second.
    const giveUpAt = Date.now() + 5_000;
    // (Raw text: a record cut by ENOSPC is completed only once space is back.)
    while (!readFileSync(path, 'utf8').includes('"msg":"log records dropped"}\n')) {
      assert.ok(Date.now() < giveUpAt, 'no `log records dropped` record within 5 s of freeing the disk');
      log.info({}, 'after');
      await flushed(log);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const all = records(path);
    assert.deepEqual(all.filter((r) => r.msg === 'job finished').map((r) => r.count), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const reports = all.filter((r) => r.msg === 'log records dropped');
    assert.equal(reports.length, 1, JSON.stringify(reports));
    assert.equal(reports[0]!.count, dropped);
    assert.match(String(reports[0]!.reason), /the log could not be written/);
    assert.equal(all.filter((r) => String(r.msg).startsWith('the log could not be written')).length, 1);
    // Nothing buffered during the fault refilled the freed space.
    // Nothing sent once the fault was known refilled the freed space: of the job output, only
    // what was sent before the first drop (already buffered then; more of it under load) is
    // there, none of the 2,000 sent during the fault.
    const outputs = all.filter((r) => r.msg === 'job output').length;
    assert.ok(outputs <= n, `${outputs} job output records written, ${n} sent before the first drop (log grew from ${sizeAtFault} to ${statSync(path).size} bytes)`);
    assert.equal(log.dropped, dropped);
  });
});

describe('opening the log file', () => {
  it('regression (issue 11 items 1/2): a planted symlink named schedd.log is refused with one line, its target never written', () => {
    const dir = tempDir();
    const target = join(dir, 'root-only');
    writeFileSync(target, 'secret\n', { mode: 0o600 });
    const path = join(dir, 'schedd.log');
    symlinkSync(target, path);
    assert.throws(() => createLog({ level: 'info', pretty: false, file: path }), { code: 'SCHEDD_LOG_UNSAFE', message: `log file ${path}: is a symbolic link, not followed (expected a regular file)` });
    assert.equal(readFileSync(target, 'utf8'), 'secret\n');
    assert.equal(statSync(target).mode & 0o777, 0o600);
    // A dangling link: nothing is created where it points.
    rmSync(target);
    assert.throws(() => createLog({ level: 'info', pretty: false, file: path }), { code: 'SCHEDD_LOG_UNSAFE' });
    assert.equal(existsSync(target), false);
  });

  it('regression (issue 11 items 1/2): a hard link, a file of another owner, a directory are refused', () => {
    const dir = tempDir();
    const other = join(dir, 'other');
    writeFileSync(other, '');
    const linked = join(dir, 'linked.log');
    linkSync(other, linked);
    assert.throws(() => createLog({ level: 'info', pretty: false, file: linked }), { message: `log file ${linked}: has 2 links (expected 1)` });
    const foreign = join(dir, 'foreign.log');
    writeFileSync(foreign, '');
    const uid = process.geteuid!();
    if (uid === 0) {
      chownSync(foreign, 12345, 12345);
      assert.throws(() => createLog({ level: 'info', pretty: false, file: foreign }), { message: `log file ${foreign}: is owned by uid 12345 (expected 0)` });
    }
    const fifo = join(dir, 'fifo.log');
    spawnSync('mkfifo', [fifo]);
    assert.ok(existsSync(fifo), 'mkfifo failed');
    // Opened for writing without a reader, a FIFO would block the daemon's start forever.
    assert.throws(() => createLog({ level: 'info', pretty: false, file: fifo }), { message: `log file ${fifo}: is not a regular file (expected a regular file)` });
    const directory = join(dir, 'dir.log');
    mkdirSync(directory);
    assert.throws(() => createLog({ level: 'info', pretty: false, file: directory }), { code: 'EISDIR' });
  });

  it('regression (issue 11 item 19): a new log file is 0640 whatever the umask', async () => {
    const dir = tempDir();
    const path = join(dir, 'schedd.log');
    const umask = process.umask(0);
    try {
      const log = createLog({ level: 'info', pretty: false, file: path });
      log.info({}, 'hello');
      await flushed(log);
    } finally {
      process.umask(umask);
    }
    assert.equal(statSync(path).mode & 0o777, 0o640);
  });

  it('regression (issue 11 items 1/2): a reopen (SIGUSR2) refuses a symlink planted after logrotate moved the log, says so in the file still open, and keeps writing there', async () => {
    const dir = tempDir();
    const path = join(dir, 'schedd.log');
    const target = join(dir, 'root-only');
    writeFileSync(target, 'secret\n', { mode: 0o600 });
    const log = createLog({ level: 'info', pretty: false, file: path });
    log.info({}, 'one');
    await flushed(log);
    renameSync(path, `${path}.1`);
    symlinkSync(target, path);
    log.reopen();
    log.info({}, 'two');
    await flushed(log);
    assert.equal(readFileSync(target, 'utf8'), 'secret\n');
    assert.deepEqual(
      records(`${path}.1`).map((r) => [r.msg, r.reason]),
      [
        ['one', undefined],
        [`cannot reopen the log file (log file ${path}: is a symbolic link, not followed (expected a regular file)); still writing to the one already open`, 'SCHEDD_LOG_UNSAFE'],
        ['two', undefined],
      ],
    );
    // Once the link is gone, a reopen opens a new file of our own.
    rmSync(path);
    log.reopen();
    log.info({}, 'three');
    await flushed(log);
    assert.deepEqual(records(path).map((r) => r.msg), ['three']);
  });
});

describe('log rotation', () => {
  it('regression (issue 11 item 15): the log is rotated to schedd.log.1 at its size cap, one kept, so it cannot fill the disk', async () => {
    const dir = tempDir();
    const path = join(dir, 'schedd.log');
    const maxBytes = 64 * 1024;
    const stream = new LogStream({ path }, maxBytes);
    const logger = pino({ base: null, timestamp: false }, stream);
    stream.logger = logger;
    for (let i = 0; i < 2000; i++) {
      logger.info({ count: i, line: 'z'.repeat(100) }, 'job output');
      if (i % 100 === 0) await new Promise<void>((resolve) => stream.flush(() => resolve()));
    }
    await new Promise<void>((resolve) => stream.flush(() => resolve()));
    const current = records(path).map((r) => r.count as number);
    const previous = records(`${path}.1`).map((r) => r.count as number);
    assert.ok(statSync(path).size <= maxBytes + maxBytes / 4, `schedd.log is ${statSync(path).size} bytes`);
    assert.ok(statSync(`${path}.1`).size <= maxBytes + maxBytes / 4, `schedd.log.1 is ${statSync(`${path}.1`).size} bytes`);
    // The newest records, in order, without a gap between the two files.
    assert.equal(current[current.length - 1], 1999);
    assert.deepEqual([...previous, ...current], Array.from({ length: previous.length + current.length }, (_, i) => 2000 - previous.length - current.length + i));
    assert.equal(stream.dropped, 0);
  });

  it('the other process of a state directory (watchdog and scheduler share the log) follows a rotation to the new file', async () => {
    const dir = tempDir();
    const path = join(dir, 'schedd.log');
    const maxBytes = 64 * 1024;
    const open = () => {
      const stream = new LogStream({ path }, maxBytes);
      const logger = pino({ base: null, timestamp: false }, stream);
      stream.logger = logger;
      return { stream, logger, flushed: () => new Promise<void>((resolve) => stream.flush(() => resolve())) };
    };
    const scheduler = open();
    const watchdog = open();
    watchdog.logger.info({}, 'watchdog before');
    await watchdog.flushed();
    for (let i = 0; i < 1000 && !existsSync(`${path}.1`); i++) {
      scheduler.logger.info({ count: i, line: 'z'.repeat(100) }, 'job output');
      if (i % 50 === 0) await scheduler.flushed();
    }
    await scheduler.flushed();
    assert.ok(existsSync(`${path}.1`), 'the scheduler did not rotate the log');
    // The watchdog's next look at the file (a second later, or after maxBytes / 8 written) finds it moved.
    watchdog.logger.info({ line: 'w'.repeat(maxBytes / 8) }, 'watchdog after');
    await watchdog.flushed();
    assert.deepEqual(records(`${path}.1`).filter((r) => r.msg.startsWith('watchdog')).map((r) => r.msg), ['watchdog before']);
    assert.deepEqual(records(path).filter((r) => r.msg.startsWith('watchdog')).map((r) => r.msg), ['watchdog after']);
  });
});
