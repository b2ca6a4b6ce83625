/**
 * The actual cost of an execution, by the same per-field rule as the requested cost (query-cost.ts
 * fieldCostKind), applied to what the resolvers returned: an object field 1 when not null, a list or a
 * connection's edges their length, the rest nothing. Each composite field's resolver is wrapped once, at
 * start-up; the tally lives in the request's context (`cost.actual`), so concurrent requests never mix.
 */
import {
  defaultFieldResolver,
  type GraphQLFieldResolver,
  type GraphQLSchema,
  isInterfaceType,
  isObjectType,
} from "graphql";
import { fieldCostKind } from "./query-cost.ts";

/** The per-request tally the wrapped resolvers add to. */
export interface CostTally {
  actual: number;
}

function countOf(kind: "object" | "list" | "edges", value: unknown): number {
  if (kind === "object") return value === null || value === undefined ? 0 : 1;
  return Array.isArray(value) ? value.length : 0;
}

/** Wraps the resolvers of every counted field of `schema` (in place) to tally into `context.cost`. */
export function tallyActualCost(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith("__") || !(isObjectType(type) || isInterfaceType(type))) continue;
    for (const field of Object.values(type.getFields())) {
      const kind = fieldCostKind(type, field);
      if (kind === "free" || kind === "connection") continue;
      const resolve: GraphQLFieldResolver<unknown, { cost?: CostTally }> = field.resolve ?? defaultFieldResolver;
      field.resolve = (source, args, context, info) => {
        const tally = (value: unknown) => {
          if (context?.cost) context.cost.actual += countOf(kind, value);
          return value;
        };
        const value = resolve(source, args, context, info);
        return value instanceof Promise ? value.then(tally) : tally(value);
      };
    }
  }
}
