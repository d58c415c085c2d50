import { readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { uptime } from 'node:os';
import { join } from 'node:path';

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

const FILE = 'reboot-boot-id';

/** True when @reboot jobs have not run yet in this boot; records that they now have. */
export async function claimBoot(stateDir: string, bootId: string): Promise<boolean> {
  const path = join(stateDir, FILE);
  const previous = await readFile(path, 'utf8').then((text) => text.trim(), () => null);
  if (previous === bootId) return false;
  const temp = `${path}.tmp`;
  await writeFile(temp, `${bootId}\n`, { mode: 0o600 });
  await rename(temp, path);
  return true;
}
