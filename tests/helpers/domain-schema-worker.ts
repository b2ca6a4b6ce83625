/**
 * A worker that builds the schema for one bulk domain and posts its SDL (sorted). The
 * builder is one registry per module graph, so each domain's schema is built in a worker of
 * its own (domainSchema in domain_seam_test.ts): message { url, name } names the module and
 * export of the domain (BulkDomain.module).
 */
import { lexicographicSortSchema, printSchema } from "graphql";
import type { BulkDomain } from "../../src/bulk/action.ts";
import { buildSchema } from "../../src/graphql/build-schema.ts";

self.onmessage = async (event: MessageEvent<BulkDomain["module"]>) => {
  try {
    const domain: BulkDomain = (await import(event.data.url))[event.data.name];
    self.postMessage({ sdl: printSchema(lexicographicSortSchema(buildSchema(domain))) + "\n" });
  } catch (error) {
    self.postMessage({ error: String(error) });
  }
};
