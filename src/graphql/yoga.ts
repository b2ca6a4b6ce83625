/** The Yoga server: HTTP, GraphiQL and SSE on /graphql, with auth, masking and limits. */
import { GraphQLError } from "graphql";
import { createYoga, type Plugin } from "graphql-yoga";
import { bearerToken, viewerForToken } from "../auth/tokens.ts";
import { type Context, createContext, type Services } from "./context.ts";
import { costLimit } from "./cost-limit.ts";
import { depthLimit } from "./depth-limit.ts";
import { apiError } from "./errors.ts";
import { useExecutionTimeout } from "./execution-timeout.ts";
import { useNoAnonymousIntrospection } from "./anonymous-introspection.ts";
import { useReadOnlyTokens } from "./read-only.ts";
import { useTrustedDocuments } from "./trusted-documents.ts";
import { schema } from "./schema.ts";
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
  console.error("[graphql] internal error:", original);
  const path = error instanceof GraphQLError ? error.path : undefined;
  return new GraphQLError("Unexpected error.", { path, extensions: { code: "INTERNAL_SERVER_ERROR" } });
}

/** Adds the depth and cost limits to validation (for HTTP, SSE and graphql-ws alike). */
function useQueryLimits(limits: { maxQueryDepth: number; maxQueryCost: number }): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(depthLimit(limits.maxQueryDepth));
      addValidationRule(costLimit(limits.maxQueryCost));
    },
  };
}

/** What src/http/server.ts hands Yoga with each request (Yoga's server context). */
export interface ServerContext {
  /** The TCP peer's address (Deno.serve's remoteAddr). */
  clientIp: string | null;
}

export function createYogaServer(services: Services) {
  const { config } = services;
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
      useQueryLimits(config),
      useExecutionTimeout(config.maxExecutionMs),
      useReadOnlyTokens(),
      useTrustedDocuments(config.trustedDocumentsOnly),
      ...(config.production ? [useNoAnonymousIntrospection()] : []),
    ],
    context: async (initial) => {
      // graphql-ws builds its context from connection_init (ws.ts); its upgrade request is closed.
      if ("services" in initial) return initial as unknown as Context;
      const { request } = initial;
      const token = bearerToken(request.headers.get("authorization"));
      const viewer = token ? await viewerForToken(services.db, token) : null;
      return createContext(viewer, services, requestOrigin(request, initial.clientIp));
    },
    logging: services.config.logLevel === "debug" ? "debug" : "warn",
  });
}

export type YogaServer = ReturnType<typeof createYogaServer>;
