import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, afterEach, describe, it } from 'node:test';
import { editCommand, type EditOptions } from '../../src/commands/edit.js';
import { sink, tempDir } from '../helpers/cli.js';

// Tests run from dist/test/commands/, fixtures stay in the source tree.
const fixturesDir = fileURLToPath(new URL('../../../test/fixtures/commands/', import.meta.url));
const fakeEditor = join(fixturesDir, 'fake-editor.sh');
const failingEditor = join(fixturesDir, 'failing-editor.sh');

const tmp = tempDir('schedd-edit-');
after(() => tmp.cleanup());

/** Edit files the command keeps on purpose (in the shared temporary folder) are removed here. */
const keptFiles: string[] = [];
afterEach(() => {
  for (const file of keptFiles.splice(0)) rmSync(file, { force: true });
});

let scripts = 0;
/**
 * A fake editor run: `versions[n]` is what the user "saves" on call n+1 (undefined: saves
 * nothing). Returns the editor command and how to read what each call saw.
 */
function script(versions: (string | undefined)[]): { editor: string; calls(): string[]; seen(call: number): string } {
  const base = join(tmp.dir, `editor-${++scripts}`);
  versions.forEach((text, i) => text !== undefined && writeFileSync(`${base}.${i + 1}`, text));
  return {
    // Arguments in the editor command, as in EDITOR="code --wait".
    editor: `${fakeEditor} ${base}`,
    calls: () => (existsSync(`${base}.calls`) ? readFileSync(`${base}.calls`, 'utf8').trimEnd().split('\n') : []),
    seen: (call) => readFileSync(`${base}.seen.${call}`, 'utf8'),
  };
}

async function edit(crontabPath: string, editor: string, answers = '', system = false): Promise<{ code: number; stdout: string; stderr: string }> {
  const input = new PassThrough();
  input.end(answers);
  const stdout = sink();
  const stderr = sink();
  const options: EditOptions = { crontabPath, crontabName: 'crontab', system, editor, input, output: stdout.stream, errorOutput: stderr.stream };
  const code = await editCommand(options);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** A crontab in a folder of its own, so leftovers of an install would show. */
function crontab(text: string, mode = 0o600): string {
  const dir = join(tmp.dir, `tab-${++scripts}`);
  mkdirSync(dir);
  const path = join(dir, 'crontab');
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

function keptEditFile(stderr: string): string {
  const match = /your edits are in (\S+)\n/.exec(stderr);
  assert.ok(match, `no kept file named in ${JSON.stringify(stderr)}`);
  keptFiles.push(match[1]!);
  return match[1]!;
}

const ORIGINAL = '@daily /bin/true\n';
const VALID = '@daily /bin/true\n*/5 * * * * /bin/date\n';
const INVALID = '@daily /bin/true\n61 * * * * /bin/date\n';

describe('schedd edit', () => {
  it('installs a valid change atomically: a new inode, the old mode, no leftovers', async () => {
    const path = crontab(ORIGINAL, 0o640);
    const before = statSync(path);
    const editor = script([VALID]);
    const result = await edit(path, editor.editor);
    assert.deepEqual(result, { code: 0, stdout: 'schedd: installed crontab (2 jobs)\n', stderr: '' });
    assert.equal(readFileSync(path, 'utf8'), VALID);
    const installed = statSync(path);
    assert.notEqual(installed.ino, before.ino, 'replaced by a rename, not rewritten in place');
    assert.equal(installed.mode & 0o7777, 0o640);
    assert.deepEqual(readdirSync(dirname(path)), ['crontab']);
    assert.equal(editor.seen(1), ORIGINAL);
    const [call] = editor.calls();
    const [editPath, editMode] = call!.split(' ');
    assert.equal(dirname(editPath!), tmpdir());
    assert.match(editPath!, /\.crontab$/);
    assert.equal(editMode, '600');
    assert.equal(existsSync(editPath!), false, 'the edit file is removed after installing');
  });

  it('prints warnings of a valid file, and installs it', async () => {
    const path = crontab(ORIGINAL);
    const result = await edit(path, script(['*/10 * * * * * /bin/tick\n']).editor);
    assert.equal(result.code, 0);
    assert.match(result.stderr, /^crontab:1:1: warning: 6 schedule fields/);
    assert.equal(result.stdout, 'schedd: installed crontab (1 job)\n');
  });

  it("leaves the crontab untouched on an invalid change answered 'n', and keeps the edits", async () => {
    const path = crontab(ORIGINAL);
    const before = statSync(path);
    const result = await edit(path, script([INVALID]).editor, 'n\n');
    assert.equal(result.code, 1);
    assert.equal(result.stdout, 'Edit again? [Y/n] ');
    const kept = keptEditFile(result.stderr);
    assert.equal(result.stderr, `crontab:2:1: invalid minute '61' (expected 0-59)\nschedd: crontab not installed; your edits are in ${kept}\n`);
    assert.equal(readFileSync(kept, 'utf8'), INVALID);
    assert.equal(readFileSync(path, 'utf8'), ORIGINAL);
    assert.equal(statSync(path).ino, before.ino);
    assert.deepEqual(readdirSync(dirname(path)), ['crontab']);
  });

  it('refuses what start refuses: a job for a user that does not exist is not installed', async () => {
    const path = crontab(ORIGINAL);
    const result = await edit(path, script(['# schedd: user=sdtnosuchuser\n@daily /bin/true\n']).editor, 'n\n');
    assert.equal(result.code, 1);
    const kept = keptEditFile(result.stderr);
    const error = process.getuid?.() === 0
      ? "crontab:2:1: unknown user 'sdtnosuchuser' (expected an account on this machine)"
      : "crontab:2:1: cannot run jobs as 'sdtnosuchuser': schedd is not running as root (expected no user, or start schedd as root)";
    assert.equal(result.stderr, `${error}\nschedd: crontab not installed; your edits are in ${kept}\n`);
    assert.equal(readFileSync(path, 'utf8'), ORIGINAL);
  });

  it('asks again after an answer it does not understand, and gives up at the end of input', async () => {
    const path = crontab(ORIGINAL);
    const result = await edit(path, script([INVALID]).editor, 'maybe\n');
    assert.equal(result.code, 1);
    assert.equal(result.stdout, 'Edit again? [Y/n] Edit again? [Y/n] \n');
    keptEditFile(result.stderr);
    assert.equal(readFileSync(path, 'utf8'), ORIGINAL);
  });

  it("reopens the editor on the user's edits after 'y' (and after an empty answer), then installs", async () => {
    const path = crontab(ORIGINAL);
    const stillInvalid = '@daily /bin/true\n0 25 * * * /bin/date\n';
    const editor = script([INVALID, stillInvalid, VALID]);
    const result = await edit(path, editor.editor, 'y\n\n');
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'Edit again? [Y/n] Edit again? [Y/n] schedd: installed crontab (2 jobs)\n');
    assert.equal(result.stderr, "crontab:2:1: invalid minute '61' (expected 0-59)\ncrontab:2:3: invalid hour '25' (expected 0-23)\n");
    assert.equal(readFileSync(path, 'utf8'), VALID);
    assert.equal(editor.seen(2), INVALID, 'the second call sees the first edits');
    assert.equal(editor.seen(3), stillInvalid);
    const files = editor.calls().map((call) => call.split(' ')[0]);
    assert.deepEqual(new Set(files).size, 1, 'one edit file for every call');
    assert.equal(existsSync(files[0]!), false);
  });

  it("says 'no changes made' and writes nothing when the file is saved unchanged", async () => {
    const path = crontab(ORIGINAL);
    const before = statSync(path);
    const editor = script([undefined]);
    const result = await edit(path, editor.editor);
    assert.deepEqual(result, { code: 0, stdout: 'schedd: no changes made to crontab\n', stderr: '' });
    assert.equal(statSync(path).ino, before.ino);
    assert.equal(statSync(path).mtimeMs, before.mtimeMs);
    assert.equal(existsSync(editor.calls()[0]!.split(' ')[0]!), false);
  });

  it('leaves the crontab untouched when the editor fails, even with edits', async () => {
    const path = crontab(ORIGINAL);
    const result = await edit(path, failingEditor);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    const kept = keptEditFile(result.stderr);
    assert.equal(result.stderr, `schedd: editor '${failingEditor}' exited with status 1; crontab not changed, your edits are in ${kept}\n`);
    assert.equal(readFileSync(path, 'utf8'), ORIGINAL);
    assert.equal(readFileSync(kept, 'utf8'), `${ORIGINAL}61 * * * * /bin/true\n`);
  });

  it('names a missing editor', async () => {
    const path = crontab(ORIGINAL);
    const result = await edit(path, join(tmp.dir, 'no-such-editor'));
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `schedd: editor '${join(tmp.dir, 'no-such-editor')}' not found (set $VISUAL or $EDITOR); crontab not changed\n`);
  });

  it('writes through a symlinked crontab to its target, keeping the link', async () => {
    const target = crontab(ORIGINAL, 0o644);
    const link = join(tmp.dir, `link-${++scripts}`);
    symlinkSync(target, link);
    const result = await edit(link, script([VALID]).editor);
    assert.equal(result.code, 0);
    assert.equal(lstatSync(link).isSymbolicLink(), true);
    assert.equal(readlinkSync(link), target);
    assert.equal(readFileSync(target, 'utf8'), VALID);
    assert.equal(statSync(target).mode & 0o7777, 0o644);
    assert.deepEqual(readdirSync(dirname(target)), ['crontab']);
  });

  it('creates the target of a dangling symlink, keeping the link', async () => {
    const target = join(tmp.dir, `tab-${++scripts}`, 'crontab');
    mkdirSync(dirname(target));
    const link = join(tmp.dir, `link-${++scripts}`);
    symlinkSync(target, link);
    const result = await edit(link, script([VALID]).editor);
    assert.equal(result.code, 0);
    assert.equal(readlinkSync(link), target);
    assert.equal(readFileSync(target, 'utf8'), VALID);
  });

  it('starts a new crontab from a header, creating its folder (0700) and the file (0600)', async () => {
    const path = join(tmp.dir, `new-${++scripts}`, 'schedd', 'crontab');
    const editor = script([VALID]);
    const result = await edit(path, editor.editor);
    assert.deepEqual(result, { code: 0, stdout: 'schedd: installed crontab (2 jobs)\n', stderr: '' });
    assert.match(editor.seen(1), /^# schedd crontab: one job a line, "minute hour day-of-month month day-of-week command"\.\n/);
    assert.equal(readFileSync(path, 'utf8'), VALID);
    assert.equal(statSync(path).mode & 0o7777, 0o600);
    assert.equal(statSync(dirname(path)).mode & 0o7777, 0o700);
  });

  it('creates nothing when a new crontab is left as the header', async () => {
    const path = join(tmp.dir, `new-${++scripts}`, 'crontab');
    const result = await edit(path, script([undefined]).editor);
    assert.deepEqual(result, { code: 0, stdout: 'schedd: no changes made to crontab\n', stderr: '' });
    assert.equal(existsSync(dirname(path)), false);
  });

  it('checks the system format with system: true', async () => {
    const path = crontab('');
    const editor = script(['0 4 * * * root\n']);
    const result = await edit(path, editor.editor, 'n\n', true);
    assert.equal(result.code, 1);
    keptEditFile(result.stderr);
    assert.match(result.stderr, /^crontab:1:15: missing command after user 'root'/);
    assert.equal(readFileSync(path, 'utf8'), '');
  });

  it('runs $VISUAL before $EDITOR, through the shell so it may carry arguments', async () => {
    const path = crontab(ORIGINAL);
    const saved = { VISUAL: process.env.VISUAL, EDITOR: process.env.EDITOR };
    process.env.VISUAL = script([VALID]).editor;
    process.env.EDITOR = failingEditor;
    try {
      const stdout = sink();
      const code = await editCommand({ crontabPath: path, crontabName: 'crontab', system: false, output: stdout.stream, errorOutput: sink().stream });
      assert.equal(code, 0);
      assert.equal(stdout.text(), 'schedd: installed crontab (2 jobs)\n');
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
