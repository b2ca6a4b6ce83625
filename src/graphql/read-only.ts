/** READ_ONLY tokens (`deno task token -- --read-only`) query and subscribe but run no mutation. */
import { getOperationAST } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Context } from "./context.ts";
import { apiError } from "./errors.ts";

export function useReadOnlyTokens(): Plugin<Context> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (args.contextValue.viewer?.token?.scope !== "READ_ONLY") return;
      if (getOperationAST(args.document, args.operationName)?.operation !== "mutation") return;
      setResultAndStopExecution({
        errors: [apiError("FORBIDDEN", "This token is read-only: it cannot run mutations.")],
      });
    },
  };
}
