/**
 * Start-up failures as the user sees them: ONE sentence naming the cause and what to do, as
 * the last line on stderr, exit code 1; the details (postgres's own log lines, the stack) go
 * to the log above it. Every entry point (start, worker, token, seed, test) reports through
 * here, so none ends with an uncaught stack trace.
 */
import { log } from "./log.ts";

/** A failure the user can act on. `message` is the sentence; `details` are for the log. */
export class StartupError extends Error {
  constructor(message: string, readonly details = "", options?: ErrorOptions) {
    super(message, options);
    this.name = "StartupError";
  }
}

/** Exit code of a start-up failure (2 stays the code of a configuration error). */
export const STARTUP_FAILURE_EXIT_CODE = 1;

/** `error`, its cause, that one's cause... (at most 10: a cycle must not loop). */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [error];
  for (let current = error; current instanceof Error && current.cause !== undefined && chain.length < 10;) {
    current = current.cause;
    chain.push(current);
  }
  return chain;
}

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);
const stackOf = (error: unknown) => error instanceof Error ? error.stack ?? error.message : String(error);

/** The sentence for the user and the details for the log of any error thrown during start-up. */
export function describeStartupFailure(error: unknown): { sentence: string; details: string } {
  const chain = causes(error);
  const known = chain.find((e): e is StartupError => e instanceof StartupError);
  // A known cause needs no stack trace; an unexpected one is a bug, and its stack helps.
  const details = chain.map((e) => e instanceof StartupError ? e.details : known ? messageOf(e) : stackOf(e))
    .filter((text) => text !== "").join("\ncaused by: ");
  if (known) return { sentence: known.message, details };
  // ENOSPC can surface anywhere (staging binaries, initdb, a migration): name it wherever it comes from.
  if (chain.some((e) => /No space left on device|ENOSPC/.test(messageOf(e)))) {
    return { sentence: "The disk is full (no space left on device): free some space and start again.", details };
  }
  const first = messageOf(error).split("\n")[0];
  return { sentence: `Start-up failed: ${first} (details in the log above).`, details };
}

/** Logs the details, prints the sentence last on stderr, returns the exit code. */
export function reportStartupFailure(scope: string, error: unknown): number {
  const { sentence, details } = describeStartupFailure(error);
  if (details) log.error(scope, details);
  console.error(`Error: ${sentence}`);
  return STARTUP_FAILURE_EXIT_CODE;
}
