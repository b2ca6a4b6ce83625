/**
 * A validation rule that refuses documents nested deeper than `maxDepth` selection sets
 * (fragments followed). Linear in the document: each fragment's depth is computed once and
 * reused at every spread (fragment-walk.ts).
 */
import { GraphQLError, Kind, type SelectionSetNode, type ValidationContext, type ValidationRule } from "graphql";
import { refusedHttp } from "./errors.ts";
import { memoisedSpreads } from "./fragment-walk.ts";

export function depthLimit(maxDepth: number): ValidationRule {
  return (context: ValidationContext) => {
    const spread = memoisedSpreads<"">(context.getDocument(), (fragment) => depthOf(fragment.selectionSet));
    const depthOf = (set: SelectionSetNode): number => {
      let deepest = 0;
      for (const selection of set.selections) {
        let depth = 0;
        if (selection.kind === Kind.FIELD) {
          const name = selection.name.value;
          const introspection = name.startsWith("__") && name !== "__typename";
          if (selection.selectionSet && !introspection) depth = 1 + depthOf(selection.selectionSet);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          depth = depthOf(selection.selectionSet);
        } else {
          depth = spread(selection.name.value, "");
        }
        if (depth > deepest) deepest = depth; // no Math.max(...spread): 200,000 selections overflow it
      }
      return deepest;
    };
    return {
      OperationDefinition(operation) {
        const depth = depthOf(operation.selectionSet);
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(`Query is nested ${depth} levels deep; the limit is ${maxDepth}.`, {
              nodes: [operation],
              extensions: { code: "QUERY_TOO_DEEP", http: refusedHttp() },
            }),
          );
        }
      },
    };
  };
}
