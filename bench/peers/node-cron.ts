// A user's in-process node-cron scheduler, written like peers/croner.ts.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import cron from 'node-cron';
import type { PeerJob } from './types.js';

const jobs = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as PeerJob[];
const tasks: ReturnType<typeof cron.schedule>[] = [];
for (const job of jobs) {
  for (const schedule of job.schedules) {
    tasks.push(cron.schedule(schedule, () => void spawn(job.command, { shell: '/bin/sh', stdio: 'ignore' }).on('error', () => undefined)));
  }
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  for (const task of tasks) void task.stop();
  process.exit(0);
});
