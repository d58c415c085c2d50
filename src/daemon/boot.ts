import { readFileSync } from 'node:fs';
import { uptime } from 'node:os';
import { readStateFile, writeStateFile } from '../state-file.js';
import { bootIdPath } from '../state-dir/paths.js';

/**
 * @reboot runs once per system boot, not per daemon start. The kernel's boot id says which
 * boot this is; the last one @reboot jobs ran for is kept in the state directory.
 */

export function currentBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // Not Linux: the boot time, to the minute, stands in for an id.
    return `boot-${Math.round((Date.now() - uptime() * 1000) / 60_000)}`;
  }
}

/** True when @reboot jobs have not run yet in this boot; records that they now have. */
export async function claimBoot(stateDir: string, bootId: string): Promise<boolean> {
  const path = bootIdPath(stateDir);
  // A planted link or foreign file is refused (thrown), not followed; the caller logs it.
  const previous = readStateFile(path)?.trim() ?? null;
  if (previous === bootId) return false;
  writeStateFile(path, `${bootId}\n`, 0o600);
  return true;
}
