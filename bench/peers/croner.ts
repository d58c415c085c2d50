// A user's in-process croner scheduler: one Cron per schedule, each firing spawns the job's
// command through the shell, the way an app would run a command. Prints "ready" once scheduled.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Cron } from 'croner';
import type { PeerJob } from './types.js';

const jobs = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as PeerJob[];
const crons: Cron[] = [];
for (const job of jobs) {
  for (const schedule of job.schedules) {
    crons.push(new Cron(schedule, () => void spawn(job.command, { shell: '/bin/sh', stdio: 'ignore' }).on('error', () => undefined)));
  }
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  for (const cron of crons) cron.stop();
  process.exit(0);
});
