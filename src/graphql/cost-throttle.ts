/**
 * The per-token cost throttle (cost-bucket.ts) as an envelop plugin, so HTTP, SSE and graphql-ws share it.
 * Before execution the operation's requested cost (query-cost.ts, at least 1) is taken from the caller's
 * bucket; when it is not available nothing executes and the answer is a THROTTLED error, HTTP 429 with
 * Retry-After. After execution the unused part (requested - actual, actual-cost.ts) is given back. Every
 * query and mutation result carries, as Shopify's do,
 *   extensions.cost { requestedQueryCost, actualQueryCost, throttleStatus { maximumAvailable,
 *                     currentlyAvailable, restoreRate } }
 *
 * Refused documents are charged too: parsing and validating them is the work (a 2.4 MB body of 200,000
 * aliases took 45-410 ms of event loop to refuse, uncharged before). A refusal at parse or validation costs
 * refusalCost(bytes) = 1 point + 1 per 1,000 bytes of document, taken even when not available (a debt); a
 * caller whose bucket is below 1 point is answered THROTTLED before its document is lexed, which bounds the
 * debt to one refusal. Bytes, not tokens: the body is read and decoded whole before the token limit stops the
 * lexer. The parse charge is taken before parsing and given back when a document comes out: a refusal thrown
 * by a before-parse hook (the token check, document-limits.ts; Yoga's cache of parse errors) ends the parse
 * with no after-parse hook run.
 *
 * A subscription is charged its requested cost once, when it starts; its events are not charged. What one
 * event costs is bounded by the same cost limit as any query; how many subscriptions a token holds is not
 * bounded by this module.
 *
 * When execution throws instead of returning a result (graphql-js turns resolver errors into results, so this
 * is a bug or a lost connection), the request is settled as if it had returned: what the resolvers tallied so
 * far is its actual cost and the rest is given back.
 */
import { type ExecutionResult, getOperationAST, GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { CostTally } from "./actual-cost.ts";
import type { CostBuckets, ThrottleStatus } from "./cost-bucket.ts";
import { operationCost } from "./query-cost.ts";

/** The execution context this plugin reads (context.ts builds it). */
interface ThrottledContext {
  cost: CostTally;
  /** The bucket of this caller: a hash of its token, or one shared bucket for anonymous callers. */
  rateKey: string;
}

/** Whose bucket a document is charged to before the execution context exists (at parse and validation). */
export type EarlyRateKey = (initialContext: object) => string;

/** What a refused document costs: 1 point + 1 per 1,000 bytes (see the module comment). */
export const refusalCost = (bytes: number) => 1 + Math.floor(bytes / 1000);

const sourceBytes = (source: string | { body: string }) =>
  typeof source === "string" ? source.length : source.body.length;

const costExtension = (requested: number, actual: number, throttleStatus: ThrottleStatus) => ({
  cost: { requestedQueryCost: requested, actualQueryCost: actual, throttleStatus },
});

function throttledError(message: string, retryAfterSeconds: number): GraphQLError {
  return new GraphQLError(`Throttled: ${message}; retry in ${retryAfterSeconds} s.`, {
    extensions: {
      code: "THROTTLED",
      retryAfterSeconds,
      http: { status: 429, headers: { "Retry-After": String(retryAfterSeconds) } },
    },
  });
}

function throttled(requested: number, status: ThrottleStatus, retryAfterSeconds: number): ExecutionResult {
  const message = `this request costs ${requested} points and ${status.currentlyAvailable} are available ` +
    `(they refill at ${status.restoreRate} per second)`;
  return { errors: [throttledError(message, retryAfterSeconds)], extensions: costExtension(requested, 0, status) };
}

export function useCostThrottle(buckets: CostBuckets, earlyRateKey: EarlyRateKey): Plugin<ThrottledContext> {
  const take = (args: Parameters<NonNullable<Plugin<ThrottledContext>["onExecute"]>>[0]["args"]) => {
    const operation = getOperationAST(args.document, args.operationName);
    const requested = Math.max(1, operation ? operationCost(args.schema, args.document, operation) : 0);
    return { requested, taken: buckets.take(args.contextValue.rateKey, requested) };
  };
  return {
    onParse({ context, params }) {
      const key = earlyRateKey(context);
      const allowed = buckets.check(key, 1);
      if (!allowed.ok) {
        // Below 1 point: spent, or in debt from refused documents; either way not worth lexing for.
        const message = `this caller's bucket is empty (${allowed.status.currentlyAvailable} points, refilling ` +
          `at ${allowed.status.restoreRate} per second)`;
        throw throttledError(message, allowed.retryAfterSeconds);
      }
      const points = refusalCost(sourceBytes(params.source));
      buckets.charge(key, points);
      return ({ result }) => {
        if (!(result instanceof Error)) buckets.refund(key, points);
      };
    },
    onValidate({ context, params }) {
      return ({ valid }) => {
        if (!valid) buckets.charge(earlyRateKey(context), refusalCost(params.documentAST.loc?.end ?? 0));
      };
    },
    onExecute({ args, executeFn, setExecuteFn, setResultAndStopExecution }) {
      const { requested, taken } = take(args);
      if (!taken.ok) {
        setResultAndStopExecution(throttled(requested, taken.status, taken.retryAfterSeconds));
        return;
      }
      const { rateKey, cost } = args.contextValue;
      const settle = () => {
        const actual = Math.min(requested, Math.max(1, cost.actual));
        return { actual, status: buckets.refund(rateKey, requested - actual) };
      };
      setExecuteFn(async (executeArgs) => {
        try {
          return await executeFn(executeArgs);
        } catch (error) {
          settle();
          throw error;
        }
      });
      return {
        onExecuteDone({ result, setResult }) {
          if (Symbol.asyncIterator in result) return; // incremental delivery: not used by this schema
          const { actual, status } = settle();
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
