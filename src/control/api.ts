import type { CommandReply, CommandRequest } from './commands.js';
import type { Command } from './protocol.js';

/**
 * What the daemon answers, one method per control command, typed by the command map. The
 * control socket serves it (handler.ts); an HTTP server would serve the same object. A method
 * refuses with a ScheddError, whose code and message become the error reply (SCHEDD_UNKNOWN_JOB
 * for `run` of a job that does not exist); any other error is the server's to report as internal.
 */
export type DaemonApi = {
  readonly [C in Command]: (request: CommandRequest<C>) => Promise<CommandReply<C>>;
};
