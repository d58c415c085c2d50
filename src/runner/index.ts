// The runner's public surface: spawn one job, supervise it, report its outcome.
export { DEFAULT_RUN_OPTIONS, hasSetpriv, startRun } from './run.js';
export { commandLine, groupExists, isGroupAlive, killGroup, liveMembers, processAlive, processStat, terminateGroup } from './process-group.js';
export type { ProcessStat } from './process-group.js';
export type { GroupTermination } from './process-group.js';
export type * from './types.js';
