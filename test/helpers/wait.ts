/**
 * The one wait of the test suite: polls `check` every `intervalMs` until it returns a value other
 * than undefined or false (a boolean check resolves true), and rejects with `what` at the
 * deadline. Never a blind sleep: a test waits for what it needs, as long as it takes, up to a
 * bound that says what did not happen.
 */
export async function waitUntil<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, intervalMs = 20): Promise<T> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
