import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseCrontab } from '../../src/crontab/parse.js';

/** Any input yields entries or diagnostics, never an exception; every diagnostic is in the file. */

const tokens = fc.constantFrom('*', '*/5', '0', '59', '60', '1-5', '5-1', 'mon', 'jan-mar', ',', '/', '-', '@daily', '@reboot', '@nope', 'L', '5#2', '?', 'echo', '%', '\\%', 'A=1', '"', "'", '#', '# schedd:', 'name=x', 'timeout=5m', 'tz=Nowhere/Else', 'CRON_TZ=UTC', '=', ' ', '\t', '\r', '23-1', 'fri-mon', '22-2/2', '5.', '*x', '1-5/2-3', '\u00a0', '\v', 'root');
const line = fc.array(tokens, { maxLength: 9 }).map((parts) => parts.join(' '));
const crontab = fc.array(line, { maxLength: 12 }).map((lines) => lines.join('\n'));

function checkInvariants(text: string, system: boolean, vixie = false): void {
  const parsed = parseCrontab(text, { system, vixie });
  const lineCount = text.split('\n').length;
  for (const d of parsed.diagnostics) {
    assert.ok(Number.isInteger(d.line) && d.line >= 1 && d.line <= lineCount, `line ${d.line} outside 1-${lineCount}`);
    assert.ok(Number.isInteger(d.col) && d.col >= 1, `col ${d.col}`);
    assert.ok(d.message.length > 0);
  }
  const errorLines = new Set(parsed.diagnostics.filter((d) => d.severity === 'error').map((d) => d.line));
  for (const entry of parsed.entries) {
    assert.ok(!errorLines.has(entry.line), `entry on line ${entry.line} has an error`);
    assert.ok(entry.command.trim().length > 0);
    // A schedule that never fires says so (issue 15: reversed ranges are accepted).
    if (entry.schedule.never === true) assert.ok(parsed.diagnostics.some((d) => d.line === entry.line && d.message.startsWith('this entry never fires')));
  }
  assert.equal(new Set(parsed.entries.map((e) => e.id)).size, parsed.entries.length, 'ids are unique');
}

describe('parser properties', () => {
  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), fc.boolean(), (text, system) => checkInvariants(text, system)), { numRuns: 2000 });
  });
  it('never throws on crontab-shaped text', () => {
    fc.assert(fc.property(crontab, fc.boolean(), fc.boolean(), (text, system, vixie) => checkInvariants(text, system, vixie)), { numRuns: 3000 });
  });
  it('never throws on arbitrary unicode and binary-ish input', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => checkInvariants(Buffer.from(bytes).toString('utf8'), false)), { numRuns: 1000 });
  });
});
