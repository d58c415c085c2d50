#!/usr/bin/env node
// Before anything else: descriptors inherited from the caller must not reach jobs (issue 11).
import { basename } from 'node:path';
import { closeInheritedDescriptors, ownDescriptors } from '../dist/src/daemon/inherited-fds.js';

closeInheritedDescriptors(ownDescriptors(process.argv.slice(2), process.env));
// Called through a link named crontab (which the user makes: the package never shadows the
// system's crontab), schedd is `schedd crontab`.
if (basename(process.argv[1] ?? '') === 'crontab') process.argv.splice(2, 0, 'crontab');
if (process.argv[2] === '__watchdog') {
  // The detached daemon's watchdog loads only what it needs (its memory is most of a Node
  // runtime otherwise spent on the CLI). Exit explicitly, as cli.ts does: nothing may keep it.
  const { watchdogMain } = await import('../dist/src/commands/watchdog.js');
  let code = 1;
  try {
    code = await watchdogMain(process.argv.slice(3));
  } catch (error) {
    process.stderr.write(`schedd: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exit(code);
}
await import('../dist/src/cli.js');
