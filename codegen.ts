/**
 * GraphQL Code Generator: types every document the tests and the clients send, from
 * schema.graphql, into src/clients/generated/ (committed; CI fails when it is stale).
 *
 *   deno task codegen
 *
 * Documents: tests/operations/*.graphql (the tests) and src/clients/operations/*.graphql
 * (the terminal client and the dashboard). Each operation becomes a `<Name>Document`
 * TypedDocumentNode in src/clients/generated/graphql.ts, so a schema change that breaks a
 * document breaks `deno check`.
 */
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "./schema.graphql",
  documents: ["tests/operations/*.graphql", "src/clients/operations/*.graphql"],
  ignoreNoDocuments: false,
  generates: {
    "src/clients/generated/": {
      preset: "client",
      presetConfig: {
        fragmentMasking: false,
        // persisted-documents.json (sha256 -> document) for GRAPHQL_TRUSTED_DOCUMENTS_ONLY=1, and the
        // hash in each document's __meta__, which the clients send instead of the text
        // (src/clients/transport.ts, src/graphql/trusted-documents.ts).
        persistedDocuments: { mode: "embedHashInDocument", hashAlgorithm: "sha256" },
      },
      config: {
        // Deno needs type-only imports and explicit extensions (shared/STACK.md).
        useTypeImports: true,
        importExtension: ".ts",
        // String unions instead of TS enums: plain values work in the browser bundle too.
        enumsAsTypes: true,
        scalars: { DateTime: "string", JSON: "unknown" },
        // Deterministic output: CI regenerates and compares.
        skipTypename: false,
      },
    },
  },
};

export default config;
