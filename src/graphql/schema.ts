/** The executable schema: importing each type family registers it on the builder. */
import { lexicographicSortSchema, printSchema } from "graphql";
import { builder } from "./builder.ts";
import "./types/users.ts";
import "./types/tickets.ts";
import "./types/bulk-operation.ts";
import "./types/bulk-api.ts";
import "./types/bulk-safety.ts";
import "./types/audit.ts";

export const schema = builder.toSchema();

/** The SDL committed as schema.graphql (sorted, so diffs show real changes only). */
export function printedSchema(): string {
  return printSchema(lexicographicSortSchema(schema)) + "\n";
}
