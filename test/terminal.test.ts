import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { escapeLines, escapeText, terminalJson, terminalJsonText } from '../src/terminal.js';

/** Reads the escapes back, as the README describes them: the test that the scheme is unambiguous. */
function unescape(text: string): string {
  return text.replace(/(\\+)(x[0-9a-f]{2}|u[0-9a-f]{4})?/g, (_, slashes: string, code: string | undefined) => {
    if (code === undefined) return slashes;
    const literal = slashes.slice(0, Math.floor(slashes.length / 2));
    if (slashes.length % 2 === 0) return literal + code;
    return literal + String.fromCharCode(parseInt(code.slice(1), 16));
  });
}

const ATTACK = '\x1b]0;pwned\x07\x1b[2Jfake\rschedd: job finished';
const RAW_CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

describe('terminal escaping', () => {
  it('regression (issue 11 item 7): OSC, BEL, ESC and CR are shown as visible escapes', () => {
    assert.equal(escapeText(ATTACK), '\\x1b]0;pwned\\x07\\x1b[2Jfake\\x0dschedd: job finished');
    assert.equal(escapeText('\u009b31mred'), '\\u009b31mred', 'C1 CSI');
    assert.equal(escapeText('del\x7f nul\x00'), 'del\\x7f nul\\x00');
    assert.equal(escapeText('a\nb'), 'a\\x0ab');
    assert.equal(escapeLines('a\nb\r'), 'a\nb\\x0d');
  });

  it('leaves tab, text and the backslashes of commands as written', () => {
    for (const text of ['a\tb', 'date +\\%Y-\\%m-\\%d', "printf '%s\\n' x", "tr -d '\\r'", 'grüße ✓', 'C:\\dir']) assert.equal(escapeText(text), text);
  });

  it('is unambiguous: a job printing the text of an escape is told apart from the byte', () => {
    assert.equal(escapeText('\\x1b'), '\\\\x1b');
    assert.equal(escapeText('\\\x1b'), '\\\\\\x1b');
    for (const text of [ATTACK, '\\x1b', '\\\x1b', '\\\\x07\x07', 'x\\u009b\u009b\\', '\\\\\\', 'end\\']) {
      const shown = escapeText(text);
      assert.doesNotMatch(shown, RAW_CONTROL);
      assert.equal(unescape(shown), text, JSON.stringify(text));
    }
  });

  it('JSON for a terminal escapes DEL and C1 too, and parses back to the same value', () => {
    const value = { line: `${ATTACK}\u009b\x7f` };
    const json = terminalJson(value, 2);
    assert.doesNotMatch(json.replace(/\n/g, ''), RAW_CONTROL);
    assert.deepEqual(JSON.parse(json), value);
    assert.equal(terminalJsonText('"\u0085"'), '"\\u0085"');
  });

  it('regression (issue 11 item 7): the foreground log on a terminal shows job output escaped', () => {
    // The pretty log (what a terminal gets) written to a pipe: the colours are ours, the rest escaped.
    const logModule = new URL('../src/log.js', import.meta.url).href;
    const script = `
      import { createLog } from ${JSON.stringify(logModule)};
      const log = createLog({ level: 'info', pretty: true, fd: 1 });
      log.info({ job: 'evil', run: 'r1', stream: 'stdout', line: ${JSON.stringify(ATTACK)} }, 'job output');
      log.info({ job: 'evil', reason: 'x\\ry' }, 'job failed');
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, 0, result.stderr);
    // Without pino-pretty's colours (SGR sequences, ending in `m`) nothing raw is left.
    const lines = result.stdout.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: evil stdout\| \\x1b\]0;pwned\\x07\\x1b\[2Jfake\\x0dschedd: job finished$/);
    assert.match(lines[1]!, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: evil: job failed \(reason=x\\x0dy\)$/);
    for (const line of lines) assert.doesNotMatch(line, RAW_CONTROL);
  });
});

describe('terminal escaping: what a review found', () => {
  it('regression (issue 11 item 7): bidi overrides, isolates and zero-width characters are escaped too', () => {
    assert.equal(escapeText('backup \u202eDELIAF\u202c ok'), 'backup \\u202eDELIAF\\u202c ok');
    assert.equal(escapeText('a\u200bb\u2066c\u2069\ufeff\u2028'), 'a\\u200bb\\u2066c\\u2069\\ufeff\\u2028');
  });

  it('regression (issue 11 item 7): a raw CR in a JSON line (a forged log line) cannot return the cursor', () => {
    const forged = '{"msg":"backup FAILED"}\r{"msg":"backup ok"}';
    assert.equal(terminalJsonText(forged), '{"msg":"backup FAILED"}\\u000d{"msg":"backup ok"}');
    // The JSON schedd writes itself reads back the same.
    assert.deepEqual(JSON.parse(terminalJsonText(JSON.stringify({ line: 'a\u202eb\rc' }))), { line: 'a\u202eb\rc' });
  });
});
