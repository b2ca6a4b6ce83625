/**
 * Limits on the shape of a GraphQL document, all checked before anything executes, as one envelop plugin,
 * so HTTP, SSE and graphql-ws (which calls yoga.getEnveloped) apply the same ones:
 * - before parsing, in one lexer pass: tokens at most `maxTokens`, nesting of `{ [ (` at most MAX_NESTING
 *   (graphql-js parses recursively and overflowed its stack at ~3,000 nested list literals or ~10,000
 *   selections, a RangeError that reached clients as an internal error, unmasked over WebSocket);
 * - at validation: aliases and directives (graphql-armor, which counts each fragment once), root fields and
 *   mutation fields per operation, literal page sizes, depth (depth-limit.ts) and cost (cost-limit.ts).
 * Every refusal is a GraphQLError with a code (TOO_NESTED, TOO_MANY_TOKENS, TOO_MANY_ALIASES, ...), which
 * Yoga answers with HTTP 400 and graphql-ws with an error message.
 */
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import {
  GraphQLError,
  Kind,
  Lexer,
  Source,
  TokenKind,
  validate,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Config } from "../config.ts";
import { costLimit } from "./cost-limit.ts";
import { refusedHttp } from "./errors.ts";
import { depthLimit } from "./depth-limit.ts";
import { pageSizeProblem } from "./pagination.ts";
import { rootFieldCount } from "./query-cost.ts";

/**
 * Brackets open at once. The depth limit (12) plus input objects a few levels deep never come near it; the
 * parser's stack overflowed from ~3,000.
 */
export const MAX_NESTING = 100;

export type DocumentLimits = Pick<
  Config,
  "maxQueryDepth" | "maxQueryCost" | "maxTokens" | "maxAliases" | "maxDirectives" | "maxRootFields" | "maxMutations"
>;

const OPENING = new Set<string>([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const CLOSING = new Set<string>([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);

const refusal = (code: string, message: string) =>
  new GraphQLError(message, { extensions: { code, http: refusedHttp() } });

/**
 * Lexes (does not parse) the document, at most `maxTokens` tokens of it, refusing more tokens or brackets
 * nested over MAX_NESTING. A lexing error is left to the parser, which reports it with its position.
 *
 * Not graphql-armor's maxTokens: it counts inside the parser, so its error is a parse error, and Yoga's
 * after-parse hook flags every parse error `spec: true` (answered 200 to `Accept: application/json`).
 * Thrown here, before parsing, the refusal keeps its HTTP 400; and the recursive parser never sees a
 * document it could overflow on.
 */
export function checkTokens(source: string, maxTokens: number): void {
  const lexer = new Lexer(new Source(source));
  let depth = 0;
  try {
    for (let n = 0; lexer.advance().kind !== TokenKind.EOF; n++) {
      const kind = lexer.token.kind;
      if (n >= maxTokens) throw refusal("TOO_MANY_TOKENS", `The document has over ${maxTokens} tokens.`);
      if (OPENING.has(kind) && ++depth > MAX_NESTING) {
        throw refusal("TOO_NESTED", `The document nests brackets over ${MAX_NESTING} levels deep.`);
      }
      // At 0 an unbalanced closer is a syntax error the parser reports; counting it would let the brackets
      // after it nest deeper than MAX_NESTING unseen.
      if (CLOSING.has(kind) && depth > 0) depth--;
    }
  } catch (error) {
    if (error instanceof GraphQLError && error.extensions.http) throw error; // ours, not a syntax error
  }
}

function fieldCaps(limits: DocumentLimits): ValidationRule {
  return (context: ValidationContext) => ({
    OperationDefinition(operation) {
      const fields = rootFieldCount(context.getDocument(), operation);
      const [max, code, what] = operation.operation === "mutation"
        ? [limits.maxMutations, "TOO_MANY_MUTATIONS", "mutation fields"]
        : [limits.maxRootFields, "TOO_MANY_ROOT_FIELDS", "root fields"];
      if (fields > max) {
        context.reportError(
          new GraphQLError(`The operation has ${fields} ${what}; the limit is ${max}.`, {
            nodes: [operation],
            extensions: { code, http: refusedHttp() },
          }),
        );
      }
    },
  });
}

/**
 * Literal page sizes outside 0..MAX_PAGE_SIZE refused before anything runs, as BAD_USER_INPUT (the resolvers
 * refuse them too, but only after other root fields ran): a negative one made the cost negative.
 */
const pageSizeLiterals: ValidationRule = (context) => ({
  Argument(argument) {
    if ((argument.name.value !== "first" && argument.name.value !== "last") || argument.value.kind !== Kind.INT) return;
    const problem = pageSizeProblem(Number(argument.value.value), argument.name.value);
    if (problem) {
      context.reportError(
        new GraphQLError(problem, {
          nodes: [argument],
          extensions: { code: "BAD_USER_INPUT", field: argument.name.value, http: refusedHttp() },
        }),
      );
    }
  },
});

/** The rules of the limits' own validation pass (see onValidate below). */
export const limitRules = (limits: DocumentLimits): ValidationRule[] => [
  fieldCaps(limits),
  pageSizeLiterals,
  depthLimit(limits.maxQueryDepth),
  costLimit(limits.maxQueryCost),
];

/** graphql-armor's rules report through onReject, with a code, instead of throwing out of validation. */
const reportAs = (code: string) => (context: ValidationContext | null, error: GraphQLError) => {
  const message = error.message.replace(/^Syntax Error: /, "");
  context?.reportError(new GraphQLError(message, { extensions: { code, http: refusedHttp() } }));
};

/**
 * The limits as two envelop plugins for Yoga's list: ours and graphql-armor's (whose plugin is typed for an
 * empty context, which Yoga's addPlugin does not take).
 */
export function useDocumentLimits(limits: DocumentLimits) {
  const rules = limitRules(limits);
  const armor = EnvelopArmorPlugin({
    maxTokens: { enabled: false }, // checkTokens instead, see there
    maxAliases: { n: limits.maxAliases, onReject: [reportAs("TOO_MANY_ALIASES")], propagateOnRejection: false },
    maxDirectives: {
      n: limits.maxDirectives,
      onReject: [reportAs("TOO_MANY_DIRECTIVES")],
      propagateOnRejection: false,
    },
    // Ours instead: depth-limit.ts and cost-limit.ts know connections and the declared list sizes.
    maxDepth: { enabled: false },
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  });
  const plugin: Plugin = {
    onParse({ params }) {
      // Thrown from this hook, not from the parse function: Yoga's parse cache keeps every parse error keyed by
      // its source, and a refused source can be 16 MiB.
      checkTokens(typeof params.source === "string" ? params.source : params.source.body, limits.maxTokens);
    },
    onValidate({ params, setResult }) {
      // A pass of their own, before graphql-js's rules: a refused bomb then costs only these linear rules.
      // Measured on the 22-level fragment bomb (2 cores): these 0.5-0.7 ms, the standard rules 11-14 ms
      // (59 ms cold), which ran before every refusal when all rules shared one pass.
      const refusals = validate(params.schema, params.documentAST, rules);
      if (refusals.length > 0) setResult(refusals);
    },
  };
  return [plugin, armor] as const;
}
