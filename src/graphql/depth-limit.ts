/**
 * A validation rule that refuses documents nested deeper than `maxDepth` selection sets
 * (fragments followed). With page sizes capped at 100 this bounds the work of any query.
 */
import { type ASTNode, GraphQLError, Kind, type ValidationContext, type ValidationRule } from "graphql";

export function depthLimit(maxDepth: number): ValidationRule {
  return (context: ValidationContext) => {
    const fragments = new Map(
      context.getDocument().definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((
        d,
      ) => [d.name.value, d]),
    );
    const depthOf = (node: ASTNode, depth: number, seen: Set<string>): number => {
      if (depth > maxDepth) return depth;
      switch (node.kind) {
        case Kind.FIELD:
          if (node.name.value.startsWith("__") && node.name.value !== "__typename") return 0; // introspection
          return node.selectionSet ? depthOf(node.selectionSet, depth + 1, seen) : depth;
        case Kind.SELECTION_SET:
          return Math.max(depth, ...node.selections.map((s) => depthOf(s, depth, seen)));
        case Kind.INLINE_FRAGMENT:
          return depthOf(node.selectionSet, depth, seen);
        case Kind.FRAGMENT_SPREAD: {
          const fragment = fragments.get(node.name.value);
          if (!fragment || seen.has(node.name.value)) return depth;
          return depthOf(fragment.selectionSet, depth, new Set([...seen, node.name.value]));
        }
        default:
          return depth;
      }
    };
    return {
      OperationDefinition(operation) {
        const depth = depthOf(operation.selectionSet, 0, new Set());
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(`Query is nested ${depth} levels deep; the limit is ${maxDepth}.`, {
              nodes: [operation],
              extensions: { code: "QUERY_TOO_DEEP" },
            }),
          );
        }
      },
    };
  };
}
