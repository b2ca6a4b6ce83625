/** The Yoga server: HTTP, GraphiQL and SSE on /graphql, with auth, masking and limits. */
import { GraphQLError } from "graphql";
import { createYoga } from "graphql-yoga";
import { bearerToken, type Viewer, viewerForToken } from "../auth/tokens.ts";
import { type Context, createContext, isContext, rateKeyOf, type Services } from "./context.ts";
import { CostBuckets } from "./cost-bucket.ts";
import { type EarlyRateKey, useCostThrottle } from "./cost-throttle.ts";
import { useDocumentLimits } from "./document-limits.ts";
import { apiError } from "./errors.ts";
import { useExecutionTimeout } from "./execution-timeout.ts";
import { useNoAnonymousIntrospection } from "./anonymous-introspection.ts";
import { useReadOnlyTokens } from "./read-only.ts";
import { useTrustedDocuments } from "./trusted-documents.ts";
import { schema } from "./schema.ts";
import { useSharedEventResults } from "./shared-events.ts";
import { errorText, log } from "../log.ts";
import { useRequestMetrics } from "../metrics/http.ts";
import { corsOption } from "../http/cors.ts";
import { requestOrigin } from "../http/origin.ts";

/**
 * Errors a client may see as they are: GraphQLErrors we raise on purpose (they carry a
 * code) and validation errors. Anything else (a bug, a database error) becomes
 * INTERNAL_SERVER_ERROR with no detail, and is logged server-side.
 */
export function maskError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError && !error.path && error.extensions?.code === undefined) {
    // A request-level error graphql-js raised without a code (a variable that does not
    // coerce, e.g. an unknown enum value): the client's input. Tagged in place, because
    // Yoga logs every error that maskError replaces by another object.
    Object.assign(error.extensions, { code: "BAD_USER_INPUT" });
    return error;
  }
  const original = error instanceof GraphQLError && error.originalError ? error.originalError : error;
  if (original instanceof GraphQLError) {
    // graphql-js already wrapped it with the path and the original's code (a resolver's or a
    // variable's error): show it as it is. Returning a new object would make Yoga log every
    // client mistake at ERROR level with a stack trace, burying the real internal errors.
    if (error instanceof GraphQLError && error.extensions?.code === original.extensions?.code) return error;
    if (error instanceof GraphQLError && error !== original) {
      return new GraphQLError(original.message, {
        nodes: error.nodes,
        path: error.path,
        extensions: original.extensions,
      });
    }
    return original;
  }
  if (original instanceof Error && original.name === "PothosValidationError") {
    return apiError("BAD_USER_INPUT", original.message);
  }
  log.error("graphql", "internal error", { error: errorText(original) });
  const path = error instanceof GraphQLError ? error.path : undefined;
  return new GraphQLError("Unexpected error.", { path, extensions: { code: "INTERNAL_SERVER_ERROR" } });
}

/** Yoga's own messages through log.ts, so LOG_FORMAT=json covers them; its info is kept at debug, as before. */
const yogaLogger = () => {
  const line = (write: typeof log.info) => (...args: unknown[]) =>
    write("yoga", args.map((arg) => (typeof arg === "string" ? arg : errorText(arg))).join(" "));
  return { debug: line(log.debug), info: line(log.debug), warn: line(log.warn), error: line(log.error) };
};

/** What src/http/server.ts hands Yoga with each request (Yoga's server context). */
export interface ServerContext {
  /** The TCP peer's address (the front door's, src/http/head-deadline.ts). */
  clientIp: string | null;
}

interface Caller {
  viewer: Viewer | null;
  /** The token `viewer` came from; null when there is no viewer. */
  token: string | null;
}

export function createYogaServer(services: Services) {
  const { config } = services;
  const buckets = new CostBuckets(config.costBucketSize, config.costRestoreRate);
  /**
   * The caller of each HTTP request, looked up once, before parsing (Yoga builds the execution context only
   * after validation, and a refused document is charged to its caller's bucket). A token that names no viewer
   * counts as anonymous: an unknown one must not open a fresh bucket per attempt.
   */
  const callers = new WeakMap<Request, Caller>();
  const identify = async (request: Request): Promise<Caller> => {
    const known = callers.get(request);
    if (known) return known;
    const token = bearerToken(request.headers.get("authorization"));
    const viewer = token ? await viewerForToken(services.db, token) : null;
    const caller = { viewer, token: viewer ? token : null };
    callers.set(request, caller);
    return caller;
  };
  /** The bucket at parse and validation: graphql-ws puts `rateKey` in its initial context (ws.ts). */
  const earlyRateKey: EarlyRateKey = (initial) => {
    if ("rateKey" in initial && typeof initial.rateKey === "string") return initial.rateKey;
    const request = "request" in initial && initial.request instanceof Request ? initial.request : null;
    return rateKeyOf((request && callers.get(request)?.token) ?? null);
  };
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    cors: corsOption(config),
    // Production: no GraphiQL (a browser cannot send a token when loading the page).
    graphiql: config.production ? false : {
      subscriptionsProtocol: "WS",
      title: "Bulk operations API",
      defaultQuery: '# Set the header: { "Authorization": "Bearer <token printed at start>" }\n' +
        "{\n  viewer { user { email role } tenant { name } }\n}\n",
    },
    // GraphiQL with its assets inlined instead of loaded from a CDN: works offline too.
    renderGraphiQL: async (options) => (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(options),
    landingPage: false,
    maskedErrors: { maskError: (error) => maskError(error) },
    plugins: [
      // Before parsing: refused documents are charged to this caller's bucket (cost-throttle.ts, whose parse
      // hook must run before the token check's).
      { onParams: ({ request }) => identify(request).then(() => {}) },
      useCostThrottle(buckets, earlyRateKey),
      ...useDocumentLimits(config),
      useRequestMetrics(),
      useExecutionTimeout(config.maxExecutionMs),
      useReadOnlyTokens(),
      useTrustedDocuments(config.trustedDocumentsOnly),
      ...(config.production ? [useNoAnonymousIntrospection()] : []),
      useSharedEventResults(),
    ],
    context: async (initial) => {
      // graphql-ws builds its context from connection_init (ws.ts); its upgrade request is closed.
      if (isContext(initial)) return initial;
      const { request } = initial;
      const { viewer, token } = await identify(request);
      return createContext(viewer, services, token, requestOrigin(request, initial.clientIp));
    },
    logging: yogaLogger(),
  });
}

export type YogaServer = ReturnType<typeof createYogaServer>;
