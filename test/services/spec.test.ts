// Services (issue 14), pure parts of src/services/spec.ts: serviceCommand (when `exec ` goes in
// front) and definitionKey (what counts as an edit that restarts a service).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCrontab } from '../../src/crontab/parse.js';
import type { Entry } from '../../src/crontab/types.js';
import { definitionKey, serviceCommand, serviceSpec } from '../../src/services/spec.js';

describe('serviceCommand', () => {
  const exec: Array<[string, string]> = [
    ['sleep 1000', 'exec sleep 1000'],
    ['/usr/bin/worker --queue a', 'exec /usr/bin/worker --queue a'],
    ['  ./worker.sh  ', 'exec ./worker.sh'],
    // Redirections belong to the program under exec as much as without it.
    ['worker > out.log', 'exec worker > out.log'],
    ['worker < in', 'exec worker < in'],
    ["'my worker' \"$HOME\"", "exec 'my worker' \"$HOME\""],
    ['${WORKER:-worker} run', 'exec ${WORKER:-worker} run'],
    ['nohup worker', 'exec nohup worker'],
    ['python3 -m http.server', 'exec python3 -m http.server'],
  ];
  for (const [command, expected] of exec) {
    it(`a simple command gets exec: ${JSON.stringify(command)}`, () => assert.equal(serviceCommand(command), expected));
  }

  const asWritten = [
    // Lists, pipelines, background, subshells, substitutions: the shell must stay.
    'a; b',
    'a && b',
    'a || b',
    'a | b',
    'a &',
    'worker 2>&1',
    '(worker)',
    'echo `date`',
    'echo $(date)',
    'a\nb',
    // Assignments in front: exec FOO=1 prog would run a program called FOO=1.
    'FOO=1 worker',
    '_x=y worker',
    // Builtins and keywords: exec cd, exec while ... do not mean the same.
    'exec worker',
    'cd /srv',
    'while true',
    'if true',
    '{ worker',
    '! worker',
    'trap x TERM',
    'true',
    ':',
    'set -e',
    'eval worker',
    '. ./env',
    'source ./env',
    'wait',
    'exit 1',
    'time worker',
    '[ -e x ]',
    'test -e x',
    '# worker',
    '',
    '   ',
  ];
  for (const command of asWritten) {
    it(`runs as written: ${JSON.stringify(command)}`, () => assert.equal(serviceCommand(command), command));
  }
});

/** The first entry of a crontab text, which must parse without errors. */
function entry(text: string): Entry {
  const parsed = parseCrontab(text);
  assert.deepEqual(parsed.diagnostics.filter((d) => d.severity === 'error'), [], text);
  assert.equal(parsed.entries.length >= 1, true);
  return parsed.entries[parsed.entries.length - 1]!;
}

describe('definitionKey', () => {
  const base = '# schedd: name=web service stop-timeout=5s restart-delay=1s\n@reboot ./web --port 80\n';
  const key = definitionKey(entry(base));

  it('is a 32-digit hex digest, the same for the same text', () => {
    assert.match(key, /^[0-9a-f]{32}$/);
    assert.equal(definitionKey(entry(base)), key);
  });

  const same: Array<[string, string]> = [
    ['the entry moved down a line', `# a comment\n\n${base}`],
    ['its options in another order', '# schedd: restart-delay=1s name=web stop-timeout=5s service\n@reboot ./web --port 80\n'],
    ['its options over two lines', '# schedd: name=web service\n# schedd: stop-timeout=5s restart-delay=1s\n@reboot ./web --port 80\n'],
    ['another instance count', '# schedd: name=web service stop-timeout=5s restart-delay=1s instances=3\n@reboot ./web --port 80\n'],
    ['an environment line below it', `${base}LATER=1\n`],
    ['another entry beside it', `# schedd: name=other service\n@reboot other\n${base}`],
  ];
  for (const [what, text] of same) {
    it(`is unchanged by ${what}`, () => assert.equal(definitionKey(entry(text)), key));
  }

  const different: Array<[string, string]> = [
    ['the command', '# schedd: name=web service stop-timeout=5s restart-delay=1s\n@reboot ./web --port 81\n'],
    ['its standard input', '# schedd: name=web service stop-timeout=5s restart-delay=1s\n@reboot ./web --port 80%hello\n'],
    ['an environment line above it', `PORT=80\n${base}`],
    ['CRON_TZ above it', `CRON_TZ=Europe/Paris\n${base}`],
    ['its working directory', '# schedd: name=web service stop-timeout=5s restart-delay=1s cwd=/srv\n@reboot ./web --port 80\n'],
    ['its user', '# schedd: name=web service stop-timeout=5s restart-delay=1s user=nobody\n@reboot ./web --port 80\n'],
    ['a service option', '# schedd: name=web service stop-timeout=6s restart-delay=1s\n@reboot ./web --port 80\n'],
    ['its lifetime (timeout=)', '# schedd: name=web service stop-timeout=5s restart-delay=1s timeout=1h\n@reboot ./web --port 80\n'],
    ['a watched path', '# schedd: name=web service stop-timeout=5s restart-delay=1s watch=web.conf\n@reboot ./web --port 80\n'],
  ];
  for (const [what, text] of different) {
    it(`changes with ${what}`, () => assert.notEqual(definitionKey(entry(text)), key));
  }

  it('is unchanged when the environment lines above it are reordered (the same environment)', () => {
    assert.equal(definitionKey(entry(`A=1\nB=2\n${base}`)), definitionKey(entry(`B=2\nA=1\n${base}`)));
  });

  it("the instance count is left out of the key, not out of the spec", () => {
    const three = entry('# schedd: name=web service instances=3\n@reboot ./web\n');
    assert.equal(serviceSpec(three).instances, 3);
    assert.equal(definitionKey(three), definitionKey(entry('# schedd: name=web service\n@reboot ./web\n')));
  });
});
