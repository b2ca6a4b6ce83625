/**
 * Deadlines for every wait in the suite. Deno's test runner has no default timeout, so a
 * wait without one hangs the whole run; these fail the test instead, with a message that
 * says what was awaited (and, for polls, the last value seen).
 */

export interface WaitOptions {
  /** How long to wait before failing. */
  timeoutMs: number;
  /** What is awaited, for the failure message ("the worker is inside the stalled chunk"). */
  what: string;
  /** Pause between two checks of a poll (default 20 ms). */
  intervalMs?: number;
}

/** Waits for `promise` at most `ms`, failing with `what`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `check` until it returns something other than undefined, null or false, and
 * returns that. Fails after `timeoutMs` naming `what` and the last value `describe` gives.
 */
export async function waitUntil<T>(
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  options: WaitOptions & { describe?: () => unknown },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) {
      const last = options.describe ? `; last: ${JSON.stringify(await options.describe())}` : "";
      throw new Error(`timed out after ${options.timeoutMs} ms waiting until ${options.what}${last}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
  }
}
