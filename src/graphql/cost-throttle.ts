/**
 * The per-token cost throttle (cost-bucket.ts) as an envelop plugin, so HTTP, SSE and graphql-ws share it.
 * Before execution the operation's requested cost (query-cost.ts, at least 1) is taken from the caller's
 * bucket; when it is not available nothing executes and the answer is a THROTTLED error, HTTP 429 with
 * Retry-After. After execution the unused part (requested - actual, actual-cost.ts) is given back. Every
 * query and mutation result carries, as Shopify's do,
 *   extensions.cost { requestedQueryCost, actualQueryCost, throttleStatus { maximumAvailable,
 *                     currentlyAvailable, restoreRate } }
 * A subscription is charged its requested cost once, when it starts (its events are not charged: the
 * connection caps bound them).
 */
import { type DocumentNode, type ExecutionResult, getOperationAST, GraphQLError, type GraphQLSchema } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { CostTally } from "./actual-cost.ts";
import type { CostBuckets, ThrottleStatus } from "./cost-bucket.ts";
import { operationCost } from "./query-cost.ts";

interface ThrottledContext {
  cost: CostTally;
  /** The bucket of this caller: a hash of its token, or one shared bucket for anonymous callers. */
  rateKey: string;
}

/** Requested cost per parsed document and operation name (documents come from Yoga's parse cache). */
const requestedCache = new WeakMap<DocumentNode, Map<string, number>>();

function requestedCost(schema: GraphQLSchema, document: DocumentNode, operationName?: string | null): number {
  const byName = requestedCache.get(document) ?? new Map<string, number>();
  requestedCache.set(document, byName);
  const name = operationName ?? "";
  let cost = byName.get(name);
  if (cost === undefined) {
    const operation = getOperationAST(document, operationName);
    cost = Math.max(1, operation ? operationCost(schema, document, operation) : 0);
    byName.set(name, cost);
  }
  return cost;
}

const costExtension = (requested: number, actual: number, throttleStatus: ThrottleStatus) => ({
  cost: { requestedQueryCost: requested, actualQueryCost: actual, throttleStatus },
});

function throttled(requested: number, status: ThrottleStatus, retryAfterSeconds: number): ExecutionResult {
  return {
    errors: [
      new GraphQLError(
        `Throttled: this request costs ${requested} points and ${status.currentlyAvailable} are available ` +
          `(they refill at ${status.restoreRate} per second); retry in ${retryAfterSeconds} s.`,
        {
          extensions: {
            code: "THROTTLED",
            retryAfterSeconds,
            http: { status: 429, headers: { "Retry-After": String(retryAfterSeconds) } },
          },
        },
      ),
    ],
    extensions: costExtension(requested, 0, status),
  };
}

export function useCostThrottle(buckets: CostBuckets): Plugin {
  const take = (args: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null }) => {
    const context = (args as unknown as { contextValue: ThrottledContext }).contextValue;
    const requested = requestedCost(args.schema, args.document, args.operationName);
    return { context, requested, taken: buckets.take(context.rateKey, requested) };
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const { context, requested, taken } = take(args);
      if (!taken.ok) {
        setResultAndStopExecution(throttled(requested, taken.status, taken.retryAfterSeconds));
        return;
      }
      return {
        onExecuteDone({ result, setResult }) {
          if (Symbol.asyncIterator in result) return; // incremental delivery: not used by this schema
          const actual = Math.min(requested, Math.max(1, context.cost.actual));
          const status = buckets.refund(context.rateKey, requested - actual);
          setResult({ ...result, extensions: { ...result.extensions, ...costExtension(requested, actual, status) } });
        },
      };
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const { requested, taken } = take(args);
      if (!taken.ok) setResultAndStopExecution(throttled(requested, taken.status, taken.retryAfterSeconds));
    },
  };
}
