#!/usr/bin/env node
// Before anything else: descriptors inherited from the caller must not reach jobs (issue 11).
import { closeInheritedDescriptors, ownDescriptors } from '../dist/src/daemon/inherited-fds.js';

closeInheritedDescriptors(ownDescriptors(process.argv.slice(2), process.env));
await import('../dist/src/cli.js');
