/**
 * Subscription events executed once per distinct (event, document, operation name, variables,
 * viewer), not once per subscriber. graphql-js maps every event of every subscription through a
 * full `execute`; 1,000 dashboards on one operation with one document meant 1,000 executions of
 * the same selection over the same row per event. progress.ts hands the SAME row object to every
 * subscriber of an operation, so the result of the first execution is shared through a WeakMap
 * keyed by that object (the entry goes when the row does). bench/api_bench.ts, 1,000 subscribers of
 * one viewer: 1.0 execution per event instead of 1,000 (docs/performance.md, "at scale").
 *
 * Why the viewer (tenant + user + role) is part of the key, not the tenant alone: the payload's
 * fields load through the context's tenant-scoped loaders, but some resolvers reachable from it
 * depend on the role (webhooks.ts answers null to non-admins) or the viewer (tickets.ts), so two
 * viewers of one tenant may see different results for the same selection. A narrower key would
 * have to be re-proven with each new field; this one is safe by construction and still shares
 * among one viewer's sockets and tabs (the bench's 1,000 subscribers share one token).
 *
 * The events are executed with graphql-js `execute` as Yoga's executor does per event, without
 * the envelop execute hooks: a subscription is charged by the cost throttle once, when it
 * starts, not per event (cost-throttle.ts), and errors are masked per subscriber afterwards by
 * the onSubscribeResult hooks, as before.
 */
import { createSourceEventStream, type DocumentNode, execute, type ExecutionArgs, type ExecutionResult } from "graphql";
import { isAsyncIterable, mapAsyncIterator, type Plugin } from "graphql-yoga";
import { isContext } from "./context.ts";
import { subscriptionEventExecutions } from "../metrics/registry.ts";

type Result = ExecutionResult | Promise<ExecutionResult>;

export class SharedEventResults {
  #byEvent = new WeakMap<object, Map<string, Result>>();
  #documentIds = new WeakMap<DocumentNode, number>();
  /**
   * A subscription's key, computed at its first event: its args never change, and serialising
   * them per event and subscriber was 3.4 us each (81 ms of a 1,000-subscriber run's 24 events).
   */
  #keys = new WeakMap<ExecutionArgs, string | null>();
  #nextDocumentId = 0;

  /** The result of `args`' operation on `event`: executed by the first subscriber that asks, shared after. */
  result(args: ExecutionArgs, event: unknown): Result {
    let key = this.#keys.get(args);
    if (key === undefined) this.#keys.set(args, key = this.#sharingKey(args));
    if (key === null || typeof event !== "object" || event === null) return this.#execute(args, event);
    const results = this.#byEvent.get(event) ?? new Map<string, Result>();
    this.#byEvent.set(event, results);
    let result = results.get(key);
    if (result === undefined) {
      result = this.#execute(args, event);
      results.set(key, result);
    }
    return result;
  }

  #execute(args: ExecutionArgs, event: unknown): Result {
    subscriptionEventExecutions.inc();
    return execute({ ...args, rootValue: event });
  }

  /** Null when the caller is anonymous (it gets no events anyway: subscriptions require a viewer). */
  #sharingKey(args: ExecutionArgs): string | null {
    const context = args.contextValue;
    const viewer = typeof context === "object" && context !== null && isContext(context) ? context.viewer : null;
    if (!viewer) return null;
    // Documents come from Yoga's parse cache: one DocumentNode per distinct query text.
    let documentId = this.#documentIds.get(args.document);
    if (documentId === undefined) {
      documentId = this.#nextDocumentId++;
      this.#documentIds.set(args.document, documentId);
    }
    return JSON.stringify([
      documentId,
      args.operationName ?? null,
      args.variableValues ?? null,
      viewer.tenantId,
      viewer.userId,
      viewer.role,
    ]);
  }
}

/** Subscriptions (graphql-ws and SSE alike) whose events are executed through `shared`. */
export function useSharedEventResults(shared = new SharedEventResults()): Plugin {
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(async (args) => {
        const stream = await createSourceEventStream(args);
        if (!isAsyncIterable(stream)) return stream;
        return mapAsyncIterator(stream, (event) => shared.result(args, event));
      });
    },
  };
}
