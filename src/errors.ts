/** Exit codes, documented in the README. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  notRunning: 3,
} as const;

/**
 * The one error type that reaches the CLI. `code` is stable and machine-readable; `exitCode` is
 * what the process exits with when this error ends a command.
 */
export class ScheddError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ScheddError';
    this.code = code;
    this.exitCode = options.exitCode ?? ExitCode.failure;
  }
}

export function usageError(message: string): ScheddError {
  return new ScheddError('SCHEDD_USAGE', message, { exitCode: ExitCode.usage });
}
