/**
 * A validation rule that bounds how many objects a document can ask for: each connection
 * costs the product of its page size and the page sizes of the connections above it
 * (the most nodes it can return). `first`/`last`
 * count as given, as the maximum (100) when they come from a variable (validation runs
 * before variables are known), and as the default page size when absent. Depth alone does
 * not bound work: bulkOperations(first: 100) { items(first: 100) { target { comments(first:
 * 100) ... } } } is 4 levels deep and a million objects.
 */
import {
  type FieldNode,
  getNamedType,
  GraphQLError,
  type GraphQLNamedType,
  isInterfaceType,
  isObjectType,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "./pagination.ts";

function pageSize(node: FieldNode): number {
  const arg = node.arguments?.find((a) => a.name.value === "first" || a.name.value === "last");
  if (!arg) return DEFAULT_PAGE_SIZE;
  return arg.value.kind === Kind.INT ? Number(arg.value.value) : MAX_PAGE_SIZE;
}

export function costLimit(maxCost: number): ValidationRule {
  return (context: ValidationContext) => {
    const schema = context.getSchema();
    const fragments = new Map(
      context.getDocument().definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION)
        .map((d) => [d.name.value, d]),
    );

    const costOf = (set: SelectionSetNode, type: GraphQLNamedType, multiplier: number, seen: Set<string>): number => {
      let cost = 0;
      for (const selection of set.selections) {
        if (cost > maxCost) return cost;
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value.startsWith("__")) continue; // introspection and __typename
          const field = isObjectType(type) || isInterfaceType(type)
            ? type.getFields()[selection.name.value]
            : undefined;
          if (!field) continue; // reported by the standard rules
          const isPage = field.args.some((a) => a.name === "first" || a.name === "last");
          const inner = multiplier * (isPage ? pageSize(selection) : 1);
          if (isPage) cost += inner;
          if (selection.selectionSet) cost += costOf(selection.selectionSet, getNamedType(field.type), inner, seen);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const narrowed = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
          if (narrowed) cost += costOf(selection.selectionSet, narrowed, multiplier, seen);
        } else {
          const fragment = fragments.get(selection.name.value);
          const narrowed = fragment && schema.getType(fragment.typeCondition.name.value);
          if (fragment && narrowed && !seen.has(fragment.name.value)) {
            cost += costOf(fragment.selectionSet, narrowed, multiplier, new Set([...seen, fragment.name.value]));
          }
        }
      }
      return cost;
    };

    return {
      OperationDefinition(operation) {
        const root = schema.getRootType(operation.operation);
        if (!root) return;
        const cost = costOf(operation.selectionSet, root, 1, new Set());
        if (cost > maxCost) {
          context.reportError(
            new GraphQLError(
              `Query may return ${cost > maxCost * 10 ? `over ${maxCost * 10}` : cost} objects; the limit is ` +
                `${maxCost}. Ask for smaller pages or fewer nested connections.`,
              { nodes: [operation], extensions: { code: "QUERY_TOO_COSTLY" } },
            ),
          );
        }
      },
    };
  };
}
