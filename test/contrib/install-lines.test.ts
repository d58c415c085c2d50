import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/cli.js';

// Installing by a bare package name installs whatever the registry holds under that name, and
// no `schedd` there is ours: every install line must install this repository (`.`, a path, a
// tarball). `npx NAME` of a name that is not installed here downloads it too.

/** Docs, scripts and sources a reader copies lines from; tests (this file among them) are not. */
function files(dir: string): string[] {
  const skip = new Set(['node_modules', 'dist', '.git', 'test', 'results']);
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    if (skip.has(name) || name === 'package-lock.json') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...files(path));
    else if (/\.(md|ts|js|mjs|sh|service|json|example|txt)$|^[^.]+$/.test(name)) found.push(path);
  }
  return found;
}

/** A package spec that names this repository rather than a registry package. */
function isLocal(spec: string): boolean {
  return /^(\.|\/|~|file:)/.test(spec) || /\.tgz$/.test(spec);
}

export function badInstallLines(text: string, installedBins: (name: string) => boolean): string[] {
  const bad = new Set<string>();
  for (const line of text.split('\n')) {
    const global = /\b(?:npm\s+(?:install|i|add)|pnpm\s+(?:add|install|i)|yarn\s+global\s+add)\s+((?:-\S+\s+)*)([^\s`'"|;&)]+)/.exec(line);
    if (global !== null && /(^|\s)(-g|--global)\b/.test(`${global[1]} ${line}`) && !global[2]!.startsWith('-') && !isLocal(global[2]!)) bad.add(line.trim());
    if (/\byarn\s+global\s+add\b/.test(line) && global === null) bad.add(line.trim());
    for (const npx of line.matchAll(/\b(?:npx|npm\s+exec|pnpx|pnpm\s+dlx)\s+((?:-\S+\s+)*)([^\s`'"|;&)]+)/g)) {
      const name = npx[2]!;
      if (!isLocal(name) && !installedBins(name)) bad.add(line.trim());
    }
  }
  return [...bad];
}

describe('install lines', () => {
  it('the checker finds the lines it must and none it must not', () => {
    const bins = (name: string): boolean => name === 'tsc';
    assert.deepEqual(badInstallLines('sudo npm install -g schedd   # puts the binary in /usr/local/bin', bins), ['sudo npm install -g schedd   # puts the binary in /usr/local/bin']);
    assert.deepEqual(badInstallLines('npm i --global schedd@latest\n$ npx schedd status\nnpm exec schedd -- list', bins).length, 3);
    assert.deepEqual(badInstallLines('sudo npm install -g .\nnpm install -g ./schedd-0.1.0.tgz\nnpm ci\nnpm install\nnpx tsc -p tsconfig.json\n`npm install -g .`', bins), []);
  });

  it('regression (issue 11 item 18): every install line in the repository installs this repository', () => {
    const bins = (name: string): boolean => existsSync(join(repoRoot, 'node_modules', '.bin', name));
    const found: string[] = [];
    for (const path of files(repoRoot)) {
      for (const line of badInstallLines(readFileSync(path, 'utf8'), bins)) found.push(`${relative(repoRoot, path)}: ${line}`);
    }
    assert.deepEqual(found, []);
  });
});
