/**
 * A deadline on every query and mutation (GRAPHQL_MAX_EXECUTION_MS, default 30 s): past it the
 * client gets EXECUTION_TIMEOUT and the executor is aborted, so it resolves no further fields
 * (graphql-tools' executor checks the signal between fields). A resolver already running
 * finishes; a mutation's transaction may still commit, which docs/security.md says.
 * Subscriptions are long-lived by design and not covered (their cost is bounded per socket
 * and per token instead).
 */
import type { Plugin } from "graphql-yoga";
import { apiError } from "./errors.ts";

/** graphql-tools' executor (Yoga's) reads `signal` from the args; graphql-js's type lacks it. */
type CancellableArgs = Parameters<Parameters<NonNullable<Plugin["onExecute"]>>[0]["executeFn"]>[0] & {
  signal?: AbortSignal;
};

export function useExecutionTimeout(maxMs: number): Plugin {
  return {
    onExecute({ executeFn, setExecuteFn }) {
      setExecuteFn(async (args: CancellableArgs) => {
        const deadline = new AbortController();
        const signal = args.signal ? AbortSignal.any([args.signal, deadline.signal]) : deadline.signal;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timedOut = new Promise<{ errors: ReturnType<typeof apiError>[] }>((resolve) => {
          timer = setTimeout(() => {
            deadline.abort();
            resolve({ errors: [apiError("EXECUTION_TIMEOUT", `The request ran over ${maxMs} ms and was stopped.`)] });
          }, maxMs);
        });
        try {
          const cancellable: CancellableArgs = { ...args, signal };
          return await Promise.race([executeFn(cancellable), timedOut]);
        } finally {
          clearTimeout(timer);
        }
      });
    },
  };
}
