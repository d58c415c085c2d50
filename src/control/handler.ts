import { ScheddError } from '../errors.js';
import type { DaemonApi } from './api.js';
import { errorReply, okReply, type Request } from './protocol.js';
import type { Handler } from './server.js';

/** The socket server's handler for a DaemonApi: each request to its method, the answer to a reply. */
export function apiHandler(api: DaemonApi): Handler {
  return async (request) => {
    try {
      return okReply(request, await answer(api, request));
    } catch (error) {
      // A refusal with a code (an unknown job) is an answer; anything else is a bug, which the
      // server logs and answers as SCHEDD_INTERNAL.
      if (error instanceof ScheddError) return errorReply(request, error.code, error.message);
      throw error;
    }
  };
}

function answer(api: DaemonApi, request: Request): Promise<unknown> {
  switch (request.cmd) {
    case 'status':
      return api.status(request);
    case 'list':
      return api.list(request);
    case 'run':
      return api.run(request);
    case 'reload':
      return api.reload(request);
    case 'reopen-log':
      return api['reopen-log'](request);
    case 'stop':
      return api.stop(request);
    case 'ping':
      return api.ping(request);
    case 'services':
      return api.services(request);
    case 'service':
      return api.service(request);
  }
}

