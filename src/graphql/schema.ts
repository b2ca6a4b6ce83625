/** The executable schema: importing each type family registers it on the builder. */
import { lexicographicSortSchema, printSchema } from "graphql";
import { builder } from "./builder.ts";
import { tallyActualCost } from "./actual-cost.ts";
import { assertNodeTypes } from "./ids.ts";
import { assertListsBounded } from "./query-cost.ts";
import "./types/users.ts";
import "./types/tickets.ts";
import "./types/bulk-operation.ts";
import "./types/bulk-api.ts";
import "./types/bulk-safety.ts";
import "./types/webhooks.ts";
import "./types/workers.ts";
import "./types/audit.ts";

export const schema = builder.toSchema();
assertListsBounded(schema); // the cost rule needs every list's maximum size
assertNodeTypes(schema); // node(id:) decodes ids before the schema exists, from a list of its own
tallyActualCost(schema);

/** The SDL committed as schema.graphql (sorted, so diffs show real changes only). */
export function printedSchema(): string {
  return printSchema(lexicographicSortSchema(schema)) + "\n";
}
