/**
 * A worker that builds the schema for one bulk domain and posts its SDL (sorted). The
 * builder is one registry per module graph, so each domain's schema is built in a worker of
 * its own (domainSchema in domain_seam_test.ts): message { domain, graphql } names the module
 * and export of the domain (BulkDomain.module) and of its GraphQL pieces (DomainGraphQL).
 */
import { lexicographicSortSchema, printSchema } from "graphql";
import type { BulkDomain } from "../../src/bulk/action.ts";
import { buildSchema } from "../../src/graphql/build-schema.ts";
import type { DomainGraphQL } from "../../src/graphql/types/bulk-domain.ts";

export type SchemaRequest = Record<"domain" | "graphql", BulkDomain["module"]>;

const load = async (module: BulkDomain["module"]) => (await import(module.url))[module.name];

self.onmessage = async (event: MessageEvent<SchemaRequest>) => {
  try {
    const domain: BulkDomain = await load(event.data.domain);
    const graphql: DomainGraphQL = await load(event.data.graphql);
    self.postMessage({ sdl: printSchema(lexicographicSortSchema(buildSchema(domain, graphql))) + "\n" });
  } catch (error) {
    self.postMessage({ error: String(error) });
  }
};
