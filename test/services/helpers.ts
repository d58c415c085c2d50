// What the services tests share: crontab entries, tiny service scripts written into the
// workspace, and the CLI views of a running daemon's services (`schedd services --json`, the
// history), read the way a user reads them.
import { randomUUID } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import type { ServiceInstanceView, ServiceState } from '../../src/control/commands.js';
import type { RunRecord } from '../../src/store/types.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { Workspace, type DaemonOptions, type DaemonProcess, type LogRecord } from '../helpers/daemon.js';
import { killUntilGone, processesWithEnv } from '../helpers/detached.js';
import { waitUntil } from '../helpers/wait.js';

export type { ServiceInstanceView };

/** A log record of the service manager: the foreground helper's fields plus a service's. */
export type ServiceRecord = LogRecord & { instance?: number; uptimeMs?: number; timeoutMs?: number };

/** The record's service fields (LogRecord knows only a job's). */
export function svc(record: LogRecord): ServiceRecord {
  return record;
}

const MARK = 'SCHEDD_SERVICES_TEST_MARK';

/**
 * A workspace whose daemons carry a mark in their environment, which every service inherits:
 * cleanup kills whatever carries it. The foreground helper kills a daemon and the jobs it saw
 * start, not services, which live in their own process groups and outlive a SIGKILLed daemon.
 */
export class ServiceWorkspace extends Workspace {
  readonly mark = randomUUID();

  override start(options: Omit<DaemonOptions, 'dir'> = {}): DaemonProcess {
    return super.start({ ...options, env: { ...options.env, [MARK]: this.mark } });
  }

  override async cleanup(): Promise<void> {
    await killUntilGone(() => processesWithEnv(MARK, this.mark), this.dir);
    await super.cleanup();
  }
}

/** A ServiceWorkspace cleaned up in the test's after hook. */
export function workspace(t: { after(fn: () => unknown): void }): ServiceWorkspace {
  const ws = new ServiceWorkspace();
  t.after(() => ws.cleanup());
  return ws;
}

/** A service entry: `# schedd: name=NAME service OPTIONS` above `@reboot COMMAND`. */
export function service(name: string, command: string, options = ''): string {
  return `# schedd: name=${name} service${options === '' ? '' : ` ${options}`}\n@reboot ${command}\n`;
}

/** Writes an executable /bin/sh script into the workspace; returns its absolute path. */
export function script(ws: Workspace, name: string, body: string): string {
  const path = ws.write(name, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/**
 * The CLI against a workspace's foreground daemon (state in ./state): `schedd services`,
 * `schedd service ...`, `schedd history`.
 */
export class ServiceCli {
  readonly stateDir: string;

  constructor(readonly ws: Workspace) {
    this.stateDir = ws.path('state');
  }

  run(args: readonly string[]): Promise<CliResult> {
    return runCli([...args, '--state-dir', this.stateDir], { cwd: this.ws.dir, env: { HOME: this.ws.dir } });
  }

  /** `schedd services --json`, which must exit 0 with nothing on stderr. */
  async list(): Promise<ServiceInstanceView[]> {
    const result = await this.run(['services', '--json']);
    if (result.code !== 0 || result.stderr !== '') throw new Error(`schedd services --json: ${JSON.stringify(result)}`);
    const parsed = JSON.parse(result.stdout) as { services: ServiceInstanceView[] };
    return parsed.services;
  }

  /** The instances of one service, by instance number. */
  async instances(name: string): Promise<ServiceInstanceView[]> {
    return (await this.list()).filter((row) => row.id === name).sort((a, b) => a.instance - b.instance);
  }

  /** Polls `schedd services` until every instance of `name` is in `state`; returns them. */
  waitState(name: string, state: ServiceState, timeoutMs = 15_000): Promise<ServiceInstanceView[]> {
    let last: ServiceInstanceView[] = [];
    return waitUntil(
      `every instance of ${name} to be ${state}`,
      async () => {
        last = await this.instances(name);
        return last.length > 0 && last.every((row) => row.state === state) ? last : undefined;
      },
      timeoutMs,
      50,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last seen: ${JSON.stringify(last)}`);
    });
  }

  /** `schedd history NAME --json`, oldest first. */
  async history(name: string): Promise<RunRecord[]> {
    const result = await this.run(['history', name, '--json', '--limit', '100']);
    if (result.code !== 0) throw new Error(`schedd history: ${JSON.stringify(result)}`);
    return (JSON.parse(result.stdout) as RunRecord[]).reverse();
  }
}

/** SCHEDD_INSTANCE in a live process's environment (null when unset); throws when it is gone. */
export function instanceOf(pid: number): string | null {
  const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  const entry = env.find((pair) => pair.startsWith('SCHEDD_INSTANCE='));
  return entry === undefined ? null : entry.slice('SCHEDD_INSTANCE='.length);
}

/** Milliseconds between two ISO instants. */
export function msBetween(fromIso: string, toIso: string): number {
  return Date.parse(toIso) - Date.parse(fromIso);
}
