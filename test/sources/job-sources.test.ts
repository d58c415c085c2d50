import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { Log, LogFields } from '../../src/log.js';
import { JobSources } from '../../src/sources/job-sources.js';
import { crontabSource } from '../../src/sources/load.js';
import { TempFiles } from '../helpers/cli.js';

const tmp = new TempFiles('schedd-sources-');
after(() => rmSync(tmp.dir, { recursive: true, force: true }));

/** A log that keeps its records, and lets a test act when one is written. */
function recordingLog(onRecord: (msg: string) => void = () => {}): Log & { records: { level: string; fields: LogFields; msg: string }[] } {
  const records: { level: string; fields: LogFields; msg: string }[] = [];
  const method = (level: string) => (fields: LogFields, msg: string): void => {
    records.push({ level, fields, msg });
    onRecord(msg);
  };
  return { records, trace: method('trace'), debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error'), fatal: method('fatal'), flush: (callback) => callback?.(), level: 'info', reopen: () => undefined, dropped: 0 };
}

let files = 0;
function sources(text: string, log: Log = recordingLog(), name = `crontab-${++files}`): { sources: JobSources; name: string } {
  tmp.write(name, text);
  return { sources: new JobSources([crontabSource(tmp.path(name), name, false)], { log, watchDebounceMs: 10 }), name };
}

describe('JobSources', () => {
  it('reloads to unchanged while the text is the one applied, and compares with the applied text, not the last read', async () => {
    const { sources: s, name } = sources('# schedd: name=a\n@daily a\n');
    const first = await s.load();
    assert.deepEqual(first.jobs.entries.map((e) => e.id), ['a']);
    assert.deepEqual([(await s.reload('SIGHUP')).changed, (await s.reload('SIGHUP')).rejected], [false, []]);
    tmp.write(name, '61 * * * * bad\n');
    const rejected = await s.reload('SIGHUP');
    assert.deepEqual([rejected.changed, rejected.rejectedCount, rejected.rejected], [false, 1, [`${name}:1:1: invalid minute '61' (expected 0-59)`]]);
    // The table keeps running its last valid text.
    assert.deepEqual(rejected.jobs.entries.map((e) => e.id), ['a']);
    // Not applied: the same text is validated (and rejected) again, not taken as unchanged.
    assert.equal((await s.reload('SIGHUP')).rejectedCount, 1);
    tmp.write(name, '# schedd: name=a\n@daily a\n');
    const back = await s.reload('SIGHUP');
    assert.deepEqual([back.changed, back.rejectedCount], [false, 0]);
  });

  it('reads a file that looks cut short again, and takes the settled text', async () => {
    const name = `crontab-${++files}`;
    const log = recordingLog((msg) => {
      // The writer finishes while schedd waits to read again.
      if (msg.startsWith('crontab looks incomplete')) tmp.write(name, '# schedd: name=b\n@daily b\n');
    });
    const { sources: s } = sources('# schedd: name=a\n@daily a\n', log, name);
    await s.load();
    tmp.write(name, '# schedd: name=b\n@daily');
    const scan = await s.reload('file changed');
    assert.equal(scan.changed, true);
    assert.deepEqual(scan.jobs.entries.map((e) => e.id), ['b']);
    assert.deepEqual(log.records, [{ level: 'info', fields: { reason: 'file changed', crontab: tmp.path(name), delayMs: 200 }, msg: 'crontab looks incomplete (no final newline); reading it again' }]);
  });

  it('throws the reader\'s one-line reason when the file cannot be read', async () => {
    const { sources: s, name } = sources('@daily a\n');
    rmSync(tmp.path(name));
    await assert.rejects(s.reload('SIGHUP'), { message: `cannot read crontab ${tmp.path(name)}: no such file (create it, or name another with -c FILE)` });
  });
});
