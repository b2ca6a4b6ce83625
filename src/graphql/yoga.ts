/** The Yoga server: HTTP, GraphiQL and SSE on /graphql, with auth, masking and limits. */
import { GraphQLError } from "graphql";
import { createYoga } from "graphql-yoga";
import { bearerToken, viewerForToken } from "../auth/tokens.ts";
import { type Context, createContext, type Services } from "./context.ts";
import { CostBuckets } from "./cost-bucket.ts";
import { useCostThrottle } from "./cost-throttle.ts";
import { useDocumentLimits } from "./document-limits.ts";
import { apiError } from "./errors.ts";
import { schema } from "./schema.ts";
import { useSharedEventResults } from "./shared-events.ts";
import { errorText, log } from "../log.ts";
import { useRequestMetrics } from "../metrics/http.ts";

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
    (error.extensions as Record<string, unknown>).code = "BAD_USER_INPUT";
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

export function createYogaServer(services: Services) {
  return createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: {
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
      useDocumentLimits(services.config),
      useCostThrottle(new CostBuckets(services.config.costBucketSize, services.config.costRestoreRate)),
      useRequestMetrics(),
      useSharedEventResults(),
    ],
    context: async (initial) => {
      // graphql-ws builds its context from connection_init (ws.ts); its upgrade request is closed.
      if ("services" in initial) return initial as unknown as Context;
      const { request } = initial;
      const token = bearerToken(request.headers.get("authorization"));
      const viewer = token ? await viewerForToken(services.db, token) : null;
      return createContext(viewer, services, viewer ? token : null);
    },
    logging: yogaLogger(),
  });
}

export type YogaServer = ReturnType<typeof createYogaServer>;
