// The direction of imports that ARCHITECTURE.md describes, read from the source files: a lower
// layer that reaches up (say dispatch/ importing daemon/) fails here, not in a review.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const srcDir = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of the source tree as [importer, imported], both relative to src/ (`dispatch/run.ts`). */
function imports(): [string, string][] {
  const pairs: [string, string][] = [];
  for (const file of sourceFiles(srcDir)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^(?:import|export)[^;]*?from '(\.{1,2}\/[^']+)'/gm)) {
      const target = resolve(dirname(file), match[1]!).replace(/\.js$/, '.ts');
      pairs.push([relative(srcDir, file), relative(srcDir, target)]);
    }
  }
  return pairs;
}

const folder = (path: string): string => (path.includes('/') ? path.slice(0, path.indexOf('/')) : path);

/** Who may import a folder (or a top-level file); anything not listed may be imported by anyone. */
const ALLOWED_IMPORTERS: Record<string, readonly string[]> = {
  'cli.ts': [],
  commands: ['cli.ts', 'commands'],
  'cli-options.ts': ['cli.ts', 'commands', 'config.ts'],
  daemon: ['cli.ts', 'commands', 'daemon'],
  'config.ts': ['cli.ts', 'commands', 'daemon', 'config.ts'],
  // The spool and the users' socket: the crontab command, and the daemon that serves it.
  spool: ['cli.ts', 'commands', 'daemon', 'spool'],
};

/** What the core below the daemon must not import. */
const FORBIDDEN: Record<string, readonly string[]> = {
  // The protocol and its API are shared by client and server: no daemon parts behind them.
  control: ['dispatch', 'events', 'store', 'sources', 'schedule', 'runner', 'services', 'mail'],
  store: ['dispatch', 'events', 'sources', 'control', 'schedule', 'runner', 'services', 'mail'],
  events: ['dispatch', 'sources', 'control', 'services', 'mail'],
  // Mail sits beside events/: a subscriber that only the daemon wires; it sends through runner/.
  mail: ['dispatch', 'sources', 'control', 'services', 'schedule'],
  dispatch: ['sources', 'control', 'services', 'mail'],
  sources: ['dispatch', 'events', 'store', 'control', 'runner', 'schedule', 'services', 'mail'],
  crontab: ['dispatch', 'events', 'store', 'sources', 'control', 'runner', 'services', 'mail'],
  // Services sit beside the scheduler: they are not fired at slots, nor do they read sources.
  services: ['sources', 'control', 'schedule', 'mail'],
  runner: ['services', 'dispatch', 'events', 'store', 'mail'],
  // It validates with sources/ and nothing of the scheduler's.
  spool: ['dispatch', 'events', 'store', 'control', 'runner', 'schedule', 'services', 'mail'],
};

describe('architecture: the direction of imports', () => {
  const pairs = imports();

  it('finds the imports it checks (a broken reader would pass everything)', () => {
    assert.ok(pairs.length > 200, `only ${pairs.length} imports found`);
    assert.ok(pairs.some(([from, to]) => from === 'daemon/daemon.ts' && to === 'dispatch/dispatcher.ts'));
  });

  it('nothing below daemon/ and commands/ imports them (nor the CLI or its config)', () => {
    const wrong = pairs.filter(([from, to]) => {
      const allowed = ALLOWED_IMPORTERS[folder(to)];
      return allowed !== undefined && !allowed.includes(folder(from));
    });
    assert.deepEqual(wrong, []);
  });

  it('the core folders import only what lies below them', () => {
    const wrong = pairs.filter(([from, to]) => FORBIDDEN[folder(from)]?.includes(folder(to)) === true);
    assert.deepEqual(wrong, []);
  });

  it('the parser and the protocol are pure: no file, process or network access', () => {
    const pure = sourceFiles(srcDir).filter((file) => /\/(crontab\/[^/]+|control\/(protocol|commands|api)|spool\/protocol|backoff|dispatch\/overlap)\.ts$/.test(file));
    assert.ok(pure.length >= 12, `only ${pure.length} pure files found`);
    const impure = pure.filter((file) => /from 'node:(fs|child_process|net|http|os)(\/promises)?'/.test(readFileSync(file, 'utf8')));
    assert.deepEqual(impure.map((file) => relative(srcDir, file)), []);
  });
});
