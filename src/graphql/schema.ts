/** The executable schema: importing each type family registers it on the builder. */
import { type GraphQLEnumType, lexicographicSortSchema, printSchema } from "graphql";
import { type BulkDomain, ENGINE_ITEM_CODES } from "../bulk/action.ts";
import { builder } from "./builder.ts";
import { tallyActualCost } from "./actual-cost.ts";
import { assertNodeTypes } from "./ids.ts";
import { assertListsBounded } from "./query-cost.ts";
import "./types/users.ts";
import "./types/tickets.ts";
import "./types/bulk-operation.ts";
import "./types/bulk-api.ts";
import "./types/bulk-safety.ts";
import "./types/bulk-import.ts";
import "./types/webhooks.ts";
import "./types/workers.ts";
import "./types/audit.ts";

export const schema = builder.toSchema();
assertListsBounded(schema); // the cost rule needs every list's maximum size
assertNodeTypes(schema); // node(id:) decodes ids before the schema exists, from a list of its own
tallyActualCost(schema);

/**
 * Refuses, at start-up, a bulk domain the schema cannot serve: the schema is built once, so
 * the domain's action types and item codes must be values of its BulkActionType and
 * BulkItemCode enums (else an item would fail to serialise, as a masked internal error).
 */
export function assertServable(domain: BulkDomain): void {
  const values = (name: string) => new Set((schema.getType(name) as GraphQLEnumType).getValues().map((v) => v.value));
  const missing = (name: string, wanted: Iterable<string>) => [...wanted].filter((v) => !values(name).has(v));
  const actions = missing("BulkActionType", domain.actions.keys());
  const codes = missing("BulkItemCode", [...domain.itemCodes, ...ENGINE_ITEM_CODES]);
  if (actions.length > 0 || codes.length > 0) {
    throw new Error(
      `The GraphQL schema cannot serve the ${domain.target.noun} domain: ` +
        [
          actions.length ? `action types ${actions.join(", ")}` : "",
          codes.length ? `item codes ${codes.join(", ")}` : "",
        ]
          .filter(Boolean).join(" and ") +
        " are not in its enums.",
    );
  }
}

/** The SDL committed as schema.graphql (sorted, so diffs show real changes only). */
export function printedSchema(): string {
  return printSchema(lexicographicSortSchema(schema)) + "\n";
}
