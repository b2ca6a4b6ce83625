/**
 * Persisted (trusted) documents: the hashes codegen wrote to
 * src/clients/generated/persisted-documents.json (`deno task codegen`), which the CLI and the
 * dashboard send instead of the text (src/clients/transport.ts). Always accepted; with
 * GRAPHQL_TRUSTED_DOCUMENTS_ONLY=1 they are the only documents that run: an ad-hoc query is
 * refused with PERSISTED_QUERY_ONLY before it is parsed, an unknown hash with
 * PERSISTED_QUERY_NOT_FOUND. HTTP and SSE go through Yoga's persisted-operations plugin;
 * graphql-ws through `wsQuery` (Yoga's onParams does not run for the socket).
 */
import { usePersistedOperations } from "@graphql-yoga/plugin-persisted-operations";
import type { Plugin } from "graphql-yoga";
import type { GraphQLError } from "graphql";
import manifest from "../clients/generated/persisted-documents.json" with { type: "json" };
import { apiError } from "./errors.ts";

const documents = new Map<string, string>(Object.entries(manifest));

const notFound = () =>
  apiError("PERSISTED_QUERY_NOT_FOUND", "No trusted document has this hash.", { http: { status: 400 } });
const textRefused = () =>
  apiError(
    "PERSISTED_QUERY_ONLY",
    "Only trusted documents run here: send extensions.persistedQuery.sha256Hash of a known document.",
    { http: { status: 400 } },
  );
const nothingSent = () =>
  apiError("BAD_USER_INPUT", "Send a query, or extensions.persistedQuery.sha256Hash of a trusted document.", {
    http: { status: 400 },
  });

export function useTrustedDocuments(trustedOnly: boolean): Plugin {
  return usePersistedOperations({
    allowArbitraryOperations: !trustedOnly,
    getPersistedOperation: (hash) => documents.get(hash) ?? null,
    customErrors: { notFound, persistedQueryOnly: textRefused, keyNotFound: nothingSent },
  });
}

/** The text a graphql-ws subscribe message stands for, or the error refusing it. */
export function wsQuery(
  payload: { query: string; extensions?: Record<string, unknown> | null },
  trustedOnly: boolean,
): string | GraphQLError {
  const persisted = payload.extensions?.persistedQuery;
  if (
    typeof persisted === "object" && persisted !== null && "version" in persisted && persisted.version === 1 &&
    "sha256Hash" in persisted && typeof persisted.sha256Hash === "string"
  ) {
    return documents.get(persisted.sha256Hash) ?? notFound();
  }
  if (trustedOnly) return textRefused();
  return payload.query;
}
