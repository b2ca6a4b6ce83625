/**
 * The cost of a GraphQL operation: the most objects it can make the server produce. One unit per
 * object a field returns, multiplied by the objects above it:
 * - an object field costs 1 (`target`, `createdBy`, `parent`: each may be a query);
 * - a list field costs its declared maximum (`extensions: { maxItems }`, see listMaxItems);
 * - a connection costs its page size (`first`/`last` as given, 100 from a variable since validation runs
 *   before variables are known, the default page size when absent): its `edges` are the counted objects,
 *   an edge's `node` is the same object, the connection wrapper and `pageInfo` are free;
 * - every mutation root field costs MUTATION_COST more (writes cost more than reads, as at Shopify);
 * - `__schema` / `__type` cost INTROSPECTION_COST (a full introspection is ~100 kB of JSON).
 * Depth alone does not bound work: bulkOperations(first: 100) { items(first: 100) { target { comments(first:
 * 100) ... } } } is 4 levels deep and a million objects.
 *
 * Linear in the document: each fragment is costed once per (fragment, page size) and reused at every
 * spread (fragment-walk.ts).
 * `fieldCost` is the same per-field rule the actual-cost tally (actual-cost.ts) applies to what resolvers return.
 */
import {
  type DocumentNode,
  type FieldNode,
  getNamedType,
  getNullableType,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  isCompositeType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import { memoisedSpreads } from "./fragment-walk.ts";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, pageSizeProblem } from "./pagination.ts";

export const MUTATION_COST = 10;
export const INTROSPECTION_COST = 1000;

/** How a field counts, from its return type and parent type. */
export type FieldCostKind = "free" | "object" | "list" | "edges" | "connection";

const isConnectionType = (type: GraphQLNamedType) => isObjectType(type) && type.name.endsWith("Connection");
const isEdgeType = (type: GraphQLNamedType) => isObjectType(type) && type.name.endsWith("Edge");

// deno-lint-ignore no-explicit-any
type AnyField = GraphQLField<any, any>;

export function fieldCostKind(parent: GraphQLNamedType, field: AnyField): FieldCostKind {
  const named = getNamedType(field.type);
  if (!isCompositeType(named)) return "free";
  if (isConnectionType(parent) && field.name === "edges") return "edges";
  if (isEdgeType(parent) && field.name === "node") return "free"; // counted as its edge
  if (field.name === "pageInfo") return "free";
  if (isConnectionType(named)) return "connection";
  return isListType(getNullableType(field.type)) ? "list" : "object";
}

/** The declared maximum length of a list field; every composite list must declare one (checked at start). */
export function listMaxItems(field: AnyField): number {
  const max = field.extensions?.maxItems;
  if (typeof max !== "number") throw new Error(`List field ${field.name} declares no extensions.maxItems`);
  return max;
}

/** Throws unless every list field returning objects declares its maximum size (run once on the schema). */
export function assertListsBounded(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith("__") || !(isObjectType(type) || isInterfaceType(type))) continue;
    for (const field of Object.values(type.getFields())) {
      if (fieldCostKind(type, field) === "list") listMaxItems(field);
    }
  }
}

/**
 * The page size a connection field is costed at. A literal outside 0..MAX_PAGE_SIZE is refused at validation
 * (pageSizeLiterals in document-limits.ts) and counted here as the maximum, so no cost is ever negative: a
 * literal `first: -100000000` once subtracted its product from the rest of the document and let a million
 * objects pass the limit and the bucket.
 */
function pageSize(node: FieldNode): number {
  const arg = node.arguments?.find((a) => a.name.value === "first" || a.name.value === "last");
  if (!arg) return DEFAULT_PAGE_SIZE;
  if (arg.value.kind !== Kind.INT) return MAX_PAGE_SIZE; // a variable: not known at validation
  const size = Number(arg.value.value);
  return pageSizeProblem(size, arg.name.value) === null ? size : MAX_PAGE_SIZE;
}

const costs = new WeakMap<GraphQLSchema, WeakMap<OperationDefinitionNode, number>>();

/**
 * The cost of one operation of `document`, computed once per parsed operation: the cost rule at validation and
 * the throttle at execution read the same figure (Yoga hands both the same cached document).
 */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) {
  let bySchema = costs.get(schema);
  if (!bySchema) costs.set(schema, bySchema = new WeakMap());
  let cost = bySchema.get(operation);
  if (cost === undefined) {
    cost = computeCost(schema, document, operation);
    bySchema.set(operation, cost);
  }
  return cost;
}

function computeCost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): number {
  const spread = memoisedSpreads<number>(document, (fragment, page) => {
    const narrowed = schema.getType(fragment.typeCondition.name.value);
    return narrowed ? costOf(fragment.selectionSet, narrowed, page) : 0;
  });

  const costOf = (set: SelectionSetNode, type: GraphQLNamedType, page: number): number => {
    let cost = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name === "__typename") continue;
        if (name === "__schema" || name === "__type") {
          cost += INTROSPECTION_COST;
          continue;
        }
        const field = isObjectType(type) || isInterfaceType(type) ? type.getFields()[name] : undefined;
        if (!field || !selection.selectionSet) continue; // unknown fields are reported by the standard rules
        const inner = getNamedType(field.type);
        switch (fieldCostKind(type, field)) {
          case "free":
            cost += costOf(selection.selectionSet, inner, page);
            break;
          case "object":
            cost += 1 + costOf(selection.selectionSet, inner, page);
            break;
          case "list":
            cost += listMaxItems(field) * (1 + costOf(selection.selectionSet, inner, page));
            break;
          case "edges":
            cost += page * (1 + costOf(selection.selectionSet, inner, page));
            break;
          case "connection":
            cost += costOf(selection.selectionSet, inner, pageSize(selection));
            break;
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const narrowed = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
        if (narrowed) cost += costOf(selection.selectionSet, narrowed, page);
      } else {
        cost += spread(selection.name.value, page);
      }
    }
    return cost;
  };

  const root = schema.getRootType(operation.operation);
  if (!root) return 0;
  let cost = costOf(operation.selectionSet, root, DEFAULT_PAGE_SIZE);
  if (operation.operation === "mutation") cost += MUTATION_COST * rootFieldCount(document, operation);
  return cost;
}

/**
 * Root fields of an operation, fragments at the root level expanded (each fragment counted once per
 * definition and reused). Used by the root-field and mutation caps (document-limits.ts) and the cost above.
 */
export function rootFieldCount(document: DocumentNode, operation: OperationDefinitionNode): number {
  const spread = memoisedSpreads<"">(document, (fragment) => count(fragment.selectionSet));
  const count = (set: SelectionSetNode): number => {
    let n = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value !== "__typename") n += 1;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        n += count(selection.selectionSet);
      } else {
        n += spread(selection.name.value, "");
      }
    }
    return n;
  };
  return count(operation.selectionSet);
}
