/** The executable schema of the app: the API over the tickets domain (build-schema.ts). */
import { isEnumType, lexicographicSortSchema, printSchema } from "graphql";
import { type BulkDomain, ENGINE_ITEM_CODES } from "../bulk/action.ts";
import { ticketsDomain } from "../tickets/actions/domain.ts";
import { buildSchema } from "./build-schema.ts";
import { ticketsGraphQL } from "./types/tickets.ts";

export const schema = buildSchema(ticketsDomain, ticketsGraphQL);

/**
 * Refuses, at start-up, a bulk domain the schema cannot serve: the schema is built once, so
 * the domain's action types and item codes must be values of its BulkActionType and
 * BulkItemCode enums (else an item would fail to serialise, as a masked internal error).
 */
export function assertServable(domain: BulkDomain): void {
  const values = (name: string) => {
    const type = schema.getType(name);
    if (!isEnumType(type)) throw new Error(`${name} is not an enum of the schema.`);
    return new Set(type.getValues().map((v) => v.value));
  };
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
