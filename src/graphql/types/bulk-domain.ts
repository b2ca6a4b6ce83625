/**
 * The served bulk domain's GraphQL pieces: what the generic bulk types (bulk-operation.ts,
 * bulk-api.ts, bulk-safety.ts) show or accept that only the domain knows, i.e. its target node
 * type, its filter input and its item codes. The domain's own GraphQL module declares them
 * (tickets.ts: ticketsGraphQL; the test-only notes domain: tests/helpers/notes-graphql.ts);
 * buildSchema registers them with defineBulkDomain before the schema is built, and the bulk
 * types reach them through servedDomain() inside their field thunks, which Pothos runs at build
 * time. So no bulk type imports a domain (domain_seam_test.ts checks it).
 */
import type { EnumRef, InputObjectRef, ObjectRef } from "@pothos/core";
import { type BulkDomain, ENGINE_ITEM_CODES } from "../../bulk/action.ts";
import { builder, type Types } from "../builder.ts";
import type { Context } from "../context.ts";

/** What a domain's GraphQL module declares for the bulk API. */
export interface DomainGraphQL {
  /** The node type of a target (BulkOperationItem.target, BulkPreviewItem.target). */
  targetType: ObjectRef<Types, unknown>;
  /** The target with this key in the request's tenant; null when missing or another tenant's. */
  loadTarget(ctx: Context, key: string): unknown;
  /** BulkTargetsInput.filter. */
  filterInput: InputObjectRef<Types, unknown>;
  /**
   * The domain's filter (BulkDomain.filterTargets) for a value of filterInput; throws
   * BAD_USER_INPUT. A method, so a domain declares it over its own input type: GraphQL passes it
   * exactly what filterInput parsed.
   */
  toFilter(input: unknown): unknown;
  /** The BulkItemCode enum's description: what each of the domain's codes (and INTERNAL) means. */
  itemCodesDescription: string;
}

export interface ServedDomain extends DomainGraphQL {
  /** The domain's item codes and the engine's own (ENGINE_ITEM_CODES). */
  itemCodes: readonly string[];
  itemCodeEnum: EnumRef<Types, string, string>;
  /** A stored code as a BulkItemCode value (see itemCode below). */
  itemCode(code: string): string;
  /** An item's target, when the request's domain is the schema's; else null (see target below). */
  target(ctx: Context, key: string): unknown;
}

let served: ServedDomain | undefined;

/** The served domain's pieces (defineBulkDomain must have run). */
export function servedDomain(): ServedDomain {
  if (!served) throw new Error("defineBulkDomain(domain, graphql) must run before the schema is built");
  return served;
}

/** Registers the domain's pieces and its BulkItemCode enum; once per schema. */
export function defineBulkDomain(domain: BulkDomain, graphql: DomainGraphQL): ServedDomain {
  if (served) throw new Error("The bulk domain is already defined (one schema per process).");
  const itemCodes = [...new Set([...domain.itemCodes, ...ENGINE_ITEM_CODES])];
  const known = new Set(itemCodes);
  const nodeType = graphql.targetType.name;
  served = {
    ...graphql,
    itemCodes,
    itemCodeEnum: builder.enumType("BulkItemCode", { description: graphql.itemCodesDescription, values: itemCodes }),
    /**
     * startApp serves only a domain whose codes the enum has (assertServable), so another one is a
     * broken invariant: it fails here by name rather than as graphql-js's "Enum cannot represent value".
     */
    itemCode(code) {
      if (known.has(code)) return code;
      throw new Error(`Item code ${code} is not a BulkItemCode value (assertServable should have refused its domain).`);
    },
    /**
     * The schema is built once, for one domain; a process may serve another whose codes and actions
     * it has (assertServable, e.g. the notes domain of the tests under the tickets schema). Its keys
     * would load an unrelated target of the schema's type with the same key, so they show none.
     */
    target: (ctx, key) => ctx.services.domain.target.nodeType === nodeType ? graphql.loadTarget(ctx, key) : null,
  };
  return served;
}
