import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { processStat } from '../runner/process-group.js';
import { readStateFile, writeStateFile } from '../state-file.js';
import { isServiceStateFile, serviceFilePath } from '../state-dir/paths.js';

/**
 * What the next scheduler needs to find an instance this one started: its pid and the start
 * time the kernel gives that pid (/proc/PID/stat field 22), which together name one process
 * whatever pids are reused meanwhile; the run it is in the history; the definition it runs.
 */
export interface InstanceRecord {
  job: string;
  instance: number;
  runId: string;
  pid: number;
  startTicks: number;
  startedAt: number;
  key: string;
  /** The boot it was started in (a pid and start time name one process only within a boot). */
  bootId?: string;
}

export function writeInstanceRecord(stateDir: string, record: InstanceRecord): void {
  writeStateFile(serviceFilePath(stateDir, record.job, record.instance, 'state'), `${JSON.stringify(record)}\n`, 0o600);
}

export function removeInstanceRecord(stateDir: string, job: string, instance: number): void {
  rmSync(serviceFilePath(stateDir, job, instance, 'state'), { force: true });
}

/** Every instance record in the state directory; a file that does not parse is reported and removed. */
export function readInstanceRecords(stateDir: string, onBad: (name: string, why: string) => void): InstanceRecord[] {
  const records: InstanceRecord[] = [];
  for (const name of readdirSync(stateDir)) {
    if (!isServiceStateFile(name)) continue;
    const path = join(stateDir, name);
    try {
      const value = JSON.parse(readStateFile(path) ?? 'null') as Partial<InstanceRecord> | null;
      if (value === null || typeof value.job !== 'string' || !Number.isInteger(value.instance) || typeof value.runId !== 'string' || !Number.isInteger(value.pid) || (value.pid ?? 0) <= 1 || !Number.isInteger(value.startTicks) || typeof value.key !== 'string' || typeof value.startedAt !== 'number') {
        throw new Error('not an instance record');
      }
      records.push(value as InstanceRecord);
    } catch (error) {
      onBad(name, (error as Error).message);
      rmSync(path, { force: true });
    }
  }
  return records;
}

/** The kernel's start time of a live process, or null when it is gone (or a zombie). */
export function startTicks(pid: number): number | null {
  const stat = processStat(pid);
  if (stat === null || stat === undefined || stat.state === 'Z') return null;
  return stat.startTime;
}

let boot: string | null | undefined;

/** This boot's id (null where the kernel does not say). */
export function bootId(): string | undefined {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      boot = null;
    }
  }
  return boot ?? undefined;
}

/** True while the recorded process runs: the same pid started at the same moment of this boot, not a zombie. */
export function isRecordedProcess(record: Pick<InstanceRecord, 'pid' | 'startTicks' | 'bootId'>): boolean {
  if (record.bootId !== undefined && record.bootId !== bootId()) return false;
  const stat = processStat(record.pid);
  return stat !== null && stat !== undefined && stat.state !== 'Z' && stat.startTime === record.startTicks;
}
