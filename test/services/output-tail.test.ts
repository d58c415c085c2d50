// The reading end of a service's output files (services/output.ts), against real files: what a
// process appends is passed on line by line, the file is emptied once read past 256 KiB, and a
// flood beyond 1 MiB a minute is dropped and counted rather than logged.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openOutputFiles, removeOutputFiles, ServiceOutput } from '../../src/services/output.js';
import { serviceFilePath } from '../../src/state-dir/paths.js';
import { waitUntil } from '../helpers/wait.js';

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'schedd-output-'));
  dirs.push(dir);
  return dir;
}

function collector(): { lines: string[]; dropped: number[]; sink: ConstructorParameters<typeof ServiceOutput>[3] } {
  const lines: string[] = [];
  const dropped: number[] = [];
  return { lines, dropped, sink: { line: (stream, line) => lines.push(`${stream} ${line}`), dropped: (bytes) => dropped.push(bytes) } };
}

describe('service output files', () => {
  it('passes on each line of both streams as it is appended, a partial line at the end', async () => {
    const dir = stateDir();
    const fds = openOutputFiles(dir, 'worker', 0);
    const { lines, sink } = collector();
    const output = new ServiceOutput(dir, 'worker', 0, sink);
    writeSync(fds.stdout, 'one\ntw');
    writeSync(fds.stderr, 'oops\n');
    await waitUntil('the first lines', () => lines.length === 2);
    assert.deepEqual([...lines].sort(), ['stderr oops', 'stdout one']);
    writeSync(fds.stdout, 'o\nthree');
    await waitUntil('the joined line', () => lines.includes('stdout two'));
    closeSync(fds.stdout);
    closeSync(fds.stderr);
    output.close();
    assert.deepEqual(lines.filter((line) => line.startsWith('stdout')), ['stdout one', 'stdout two', 'stdout three']);
  });

  it('empties a file once read past 256 KiB, and a new process of the instance starts on an empty file', async () => {
    const dir = stateDir();
    const fds = openOutputFiles(dir, 'worker', 1);
    const { lines, sink } = collector();
    const output = new ServiceOutput(dir, 'worker', 1, sink);
    const line = `${'x'.repeat(1023)}\n`;
    for (let i = 0; i < 300; i++) writeSync(fds.stdout, line);
    await waitUntil('300 lines', () => lines.length === 300);
    await waitUntil('the file emptied', () => statSync(serviceFilePath(dir, 'worker', 1, 'out')).size < 300 * 1024);
    writeSync(fds.stdout, 'after\n');
    await waitUntil('the line after the truncation', () => lines.at(-1) === 'stdout after');
    assert.equal(lines.length, 301);
    closeSync(fds.stdout);
    closeSync(fds.stderr);
    output.close();
    writeSync(openOutputFiles(dir, 'worker', 1).stdout, '');
    assert.equal(statSync(serviceFilePath(dir, 'worker', 1, 'out')).size, 0);
    removeOutputFiles(dir, 'worker', 1);
    assert.throws(() => statSync(serviceFilePath(dir, 'worker', 1, 'out')), { code: 'ENOENT' });
  });

  it('drops what comes past 1 MiB of lines in a minute and says how much', async () => {
    const dir = stateDir();
    const fds = openOutputFiles(dir, 'flood', 0);
    const { lines, dropped, sink } = collector();
    const output = new ServiceOutput(dir, 'flood', 0, sink);
    const line = `${'y'.repeat(1023)}\n`;
    // 1.5 MiB: the first 1 MiB (1024 lines) is passed on, the rest is dropped.
    for (let i = 0; i < 1536; i++) writeSync(fds.stdout, line);
    await waitUntil('the file read to its end', () => statSync(serviceFilePath(dir, 'flood', 0, 'out')).size < 256 * 1024 && lines.length >= 1024, 20_000);
    closeSync(fds.stdout);
    closeSync(fds.stderr);
    output.close();
    assert.equal(lines.length, 1024);
    assert.equal(dropped.reduce((a, b) => a + b, 0), 512 * 1024);
  });
});
