// The runner's public surface: spawn one job, supervise it, report its outcome.
export { DEFAULT_RUN_OPTIONS, hasSetpriv, startRun } from './run.js';
export { groupExists, isGroupAlive, killGroup, liveMembers, terminateGroup } from './process-group.js';
export type { GroupTermination } from './process-group.js';
export type * from './types.js';
