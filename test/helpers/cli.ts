import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The repository root, from dist/test/helpers/. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const cliPath = join(repoRoot, 'bin', 'schedd.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to completion (pinned TZ unless the caller sets one). */
export function runCli(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return collect(spawn(process.execPath, [cliPath, ...args], { cwd: options.cwd, env: { ...process.env, TZ: 'UTC', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** A child's exit and its whole stdout and stderr (spawned with stdout and stderr piped). */
export function collect(child: ChildProcessByStdio<null, Readable, Readable>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'schedd-test-'): { dir: string; write(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A temporary directory (realpath, so it compares equal to what `pwd` prints) and its files. */
export class TempFiles {
  readonly dir: string;

  constructor(prefix: string) {
    this.dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  write(name: string, text: string): string {
    const path = this.path(name);
    writeFileSync(path, text);
    return path;
  }

  /** Writes a sibling file and renames it over `name`, as editors that save atomically do. */
  replace(name: string, text: string): void {
    const temp = this.write(`${name}.new`, text);
    renameSync(temp, this.path(name));
  }

  read(name: string): string {
    return readFileSync(this.path(name), 'utf8');
  }
}

/** A writable stream that keeps what is written to it, for commands given their output streams. */
export function sink(): { stream: Writable; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}
