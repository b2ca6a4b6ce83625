/**
 * A validation rule refusing operations whose cost (query-cost.ts: the most objects they can make the
 * server produce) is over `maxCost`. Runs for HTTP, SSE and WebSocket alike.
 */
import { GraphQLError, type ValidationContext, type ValidationRule } from "graphql";
import { refusedHttp } from "./errors.ts";
import { operationCost } from "./query-cost.ts";

export function costLimit(maxCost: number): ValidationRule {
  return (context: ValidationContext) => ({
    OperationDefinition(operation) {
      const cost = operationCost(context.getSchema(), context.getDocument(), operation);
      if (cost > maxCost) {
        context.reportError(
          new GraphQLError(
            `Query may return ${cost > maxCost * 10 ? `over ${maxCost * 10}` : cost} objects; the limit is ` +
              `${maxCost}. Ask for smaller pages or fewer nested connections and lists.`,
            { nodes: [operation], extensions: { code: "QUERY_TOO_COSTLY", cost, maxCost, http: refusedHttp() } },
          ),
        );
      }
    },
  });
}
