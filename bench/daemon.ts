import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './common.js';

/** A foreground schedd started for a measurement, with its JSON log records as they arrive. */
export class BenchDaemon {
  readonly child: ChildProcess;
  readonly records: Record<string, unknown>[] = [];
  private waiters: { test: (r: Record<string, unknown>) => boolean; resolve: (r: Record<string, unknown>) => void }[] = [];

  constructor(crontab: string, stateDir: string, extraArgs: string[] = []) {
    this.child = spawn(process.execPath, [join(repoRoot, 'bin', 'schedd.js'), 'start', '--foreground', '-c', crontab, '--state-dir', stateDir, '--json-logs', ...extraArgs], {
      env: { ...process.env, TZ: 'UTC' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffer = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          record = { msg: 'unparsed', line };
        }
        this.records.push(record);
        this.waiters = this.waiters.filter((w) => (w.test(record) ? (w.resolve(record), false) : true));
        newline = buffer.indexOf('\n');
      }
    });
  }

  waitFor(msg: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const found = this.records.find((r) => r.msg === msg);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${msg}' within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ test: (r) => r.msg === msg, resolve: (r) => (clearTimeout(timer), resolve(r)) });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}
