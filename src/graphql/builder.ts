/** The Pothos schema builder: relay (global ids, connections) and scope-auth (roles). */
import SchemaBuilder from "@pothos/core";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import { GraphQLError, Kind, type ValueNode } from "graphql";
import type { Context } from "./context.ts";
import { apiError, badInput } from "./errors.ts";
import { decodeId, encodeId, isSqlTimestamp } from "./ids.ts";

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { authenticated: boolean; agent: boolean; admin: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
    /** A GraphQL multipart request's file (startBulkImport source.file). */
    File: { Input: File; Output: never };
    ID: { Input: string; Output: string | number | bigint };
  };
  DefaultFieldNullability: false;
}>({
  defaultFieldNullability: false,
  // scope-auth first, so role checks run before any other plugin's resolver wrapper.
  plugins: [ScopeAuthPlugin, RelayPlugin],
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({
      authenticated: ctx.viewer !== null,
      agent: ctx.viewer?.role === "ADMIN" || ctx.viewer?.role === "AGENT",
      admin: ctx.viewer?.role === "ADMIN",
    }),
    unauthorizedError: (_parent, ctx) =>
      ctx.viewer === null
        ? apiError("UNAUTHENTICATED", "A valid API token is required: send Authorization: Bearer <token>.")
        : apiError("FORBIDDEN", `Your role (${ctx.viewer.role}) is not allowed to do this.`),
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    encodeGlobalID: encodeId,
    decodeGlobalID: decodeId,
    nodeQueryOptions: { authScopes: { authenticated: true } },
    nodesQueryOptions: false,
  },
});

/** The builder's schema types (field builders and refs outside this file are typed with it). */
export type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

builder.queryType({ authScopes: { authenticated: true } });
builder.mutationType({ authScopes: { authenticated: true } });

function parseDate(value: unknown): Date {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value) || !isSqlTimestamp(value)) {
    throw badInput(`DateTime must be an ISO 8601 date-time string, got ${JSON.stringify(value)}`);
  }
  return new Date(value);
}

builder.scalarType("DateTime", {
  description: "An ISO 8601 date-time with time zone, e.g. 2026-11-25T12:00:00Z.",
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(value).toISOString()),
  parseValue: parseDate,
  parseLiteral: (node: ValueNode) => {
    if (node.kind !== Kind.STRING) throw new GraphQLError("DateTime must be a string literal");
    return parseDate(node.value);
  },
});

builder.scalarType("JSON", {
  description: "Arbitrary JSON (before/after images of bulk items).",
  serialize: (value) => value,
  parseValue: (value) => value,
});
