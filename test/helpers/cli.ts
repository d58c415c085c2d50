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

let sandbox: string | null = null;

/**
 * SCHEDD_STATE_DIR and SCHEDD_CRONTAB in a temporary directory of this test process: a command
 * a test runs without --state-dir or -c never reaches the machine's own daemon or state
 * (/var/lib/schedd, /etc/schedd as root). A test that means the defaults sets them itself.
 */
export function sandboxEnv(): { SCHEDD_STATE_DIR: string; SCHEDD_CRONTAB: string } {
  if (sandbox === null) {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'schedd-sandbox-')));
    sandbox = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return { SCHEDD_STATE_DIR: join(sandbox, 'state'), SCHEDD_CRONTAB: join(sandbox, 'crontab') };
}

/** The environment the helpers give the CLI: ours, TZ pinned, sandboxed, then the caller's. */
export function cliEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, TZ: 'UTC', ...sandboxEnv(), ...env };
}

/** Runs the built CLI to completion (pinned TZ and a sandboxed state unless the caller sets them). */
export function runCli(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return collect(spawn(process.execPath, [cliPath, ...args], { cwd: options.cwd, env: cliEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] }));
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
