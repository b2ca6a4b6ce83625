/**
 * Production mode (NODE_ENV=production): a caller without a valid token may not introspect
 * the schema (`__schema`, `__type`; `__typename` stays allowed). Checked at execute, where the
 * viewer is known, with graphql-js's own NoSchemaIntrospectionCustomRule: one more walk of
 * the document, for anonymous requests only (which are refused anyway unless they introspect).
 */
import { NoSchemaIntrospectionCustomRule, validate } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Context } from "./context.ts";
import { apiError } from "./errors.ts";

export function useNoAnonymousIntrospection(): Plugin<Context> {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (args.contextValue.viewer) return;
      if (validate(args.schema, args.document, [NoSchemaIntrospectionCustomRule]).length === 0) return;
      setResultAndStopExecution({
        errors: [apiError("UNAUTHENTICATED", "Introspection needs a valid API token in production.")],
      });
    },
  };
}
