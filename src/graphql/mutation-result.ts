/**
 * The convention of every mutation: a payload with the changed object(s) and `userErrors`.
 * Input problems found anywhere below (a malformed id, an over-long string) are thrown as
 * BAD_USER_INPUT GraphQLErrors; runMutation turns them into userErrors so a client has one
 * place to look, and nothing has been written when they are thrown.
 */
import { GraphQLError } from "graphql";
import { type UserError, userError } from "./errors.ts";

/** A payload: its objects are absent (null in GraphQL) when there are userErrors. */
export type Payload<T> = Partial<T> & { userErrors: UserError[] };

/** A payload without its objects. */
function refusal<T>(userErrors: UserError[]): Payload<T> {
  const none: Partial<T> = {};
  return { ...none, userErrors };
}

export async function runMutation<T extends object>(
  body: () => Promise<T & { userErrors: UserError[] } | UserError[]>,
): Promise<Payload<T>> {
  try {
    const result = await body();
    return Array.isArray(result) ? refusal<T>(result) : result;
  } catch (error) {
    if (error instanceof GraphQLError && error.extensions.code === "BAD_USER_INPUT") {
      const field = typeof error.extensions.field === "string" ? ["input", error.extensions.field] : null;
      return refusal<T>([userError("INVALID_INPUT", error.message, field)]);
    }
    throw error;
  }
}
