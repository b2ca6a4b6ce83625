/**
 * Builds the executable schema for the bulk domain a process serves: importing each type
 * family registers it on the builder; the domain's actions add BulkActionType,
 * BulkActionInput and the BulkAction union (types/bulk-action.ts), and its GraphQL module's
 * pieces (DomainGraphQL: target type, filter input, item codes) the rest the bulk types need
 * (types/bulk-domain.ts). Once per process (the builder is one registry); schema.ts builds the
 * tickets schema.
 */
import type { GraphQLSchema } from "graphql";
import type { BulkDomain } from "../bulk/action.ts";
import { builder } from "./builder.ts";
import { tallyActualCost } from "./actual-cost.ts";
import { assertNodeTypes } from "./ids.ts";
import { assertListsBounded } from "./query-cost.ts";
import { defineBulkActions } from "./types/bulk-action.ts";
import { defineBulkDomain, type DomainGraphQL } from "./types/bulk-domain.ts";
import "./types/users.ts";
import "./types/tickets.ts";
import "./types/bulk-operation.ts";
import "./types/bulk-api.ts";
import "./types/bulk-safety.ts";
import "./types/tickets-export.ts";
import "./types/tickets-import.ts";
import "./types/webhooks.ts";
import "./types/workers.ts";
import "./types/audit.ts";

export function buildSchema(domain: BulkDomain, graphql: DomainGraphQL): GraphQLSchema {
  defineBulkActions(domain);
  defineBulkDomain(domain, graphql);
  const schema = builder.toSchema();
  assertListsBounded(schema); // the cost rule needs every list's maximum size
  assertNodeTypes(schema); // node(id:) decodes ids before the schema exists, from a list of its own
  tallyActualCost(schema);
  return schema;
}
