/**
 * SIGINT and SIGTERM as one AbortSignal, listened for from the first line of every entry
 * point (start, worker, token, seed, test).
 *
 * Why from the first line: without a listener Deno dies at once on these signals and runs no
 * `unload` handler, so a signal during start-up (initdb, postgres starting, migrations, seed)
 * left the embedded PostgreSQL running. With the listener installed, start-up steps see the
 * abort, what was opened is closed, and the process exits:
 * - `deno task start` and `deno task worker` exit 0, as after a stop once running: stopping a
 *   service is what the signal asks for;
 * - `token`, `seed` and `test` exit 128 + the signal's number (130, 143), as a shell reports
 *   a command it interrupted: their job was not done.
 */

/** Thrown (as the AbortSignal's reason) when a stop signal arrived. */
export class Interrupted extends Error {
  constructor(readonly signal: "SIGINT" | "SIGTERM") {
    super(`interrupted by ${signal}`);
    this.name = "Interrupted";
  }
}

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/** The exit code of a task (not a service) that a signal interrupted. */
export const interruptedExitCode = (error: Interrupted) => 128 + SIGNAL_NUMBERS[error.signal];

export interface StopSignals extends Disposable {
  /** Aborted, with an Interrupted reason, by the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** Resolves when that happens. */
  stopped: Promise<void>;
}

export function listenForStopSignals(): StopSignals {
  const controller = new AbortController();
  const stopped = new Promise<void>((resolve) => controller.signal.addEventListener("abort", () => resolve()));
  const listeners = (["SIGINT", "SIGTERM"] as const).map((name) => {
    const listener = () => controller.abort(new Interrupted(name));
    Deno.addSignalListener(name, listener);
    return () => Deno.removeSignalListener(name, listener);
  });
  return {
    signal: controller.signal,
    stopped,
    [Symbol.dispose]: () => listeners.forEach((remove) => remove()),
  };
}
