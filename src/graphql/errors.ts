/**
 * Errors the API shows its clients. Request-level problems are GraphQLErrors with a typed
 * `extensions.code`; mutation problems are `userErrors` in the payload. Anything else is
 * masked to "Unexpected error." (see maskError in yoga.ts).
 */
import { GraphQLError } from "graphql";

export type ErrorCode =
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "BAD_USER_INPUT"
  | "NOT_FOUND"
  | "INTERNAL_SERVER_ERROR"
  // Connections, tokens and production mode (docs/security.md).
  | "TOO_MANY_SOCKETS"
  | "TOO_MANY_SUBSCRIPTIONS"
  | "EXECUTION_TIMEOUT"
  | "PERSISTED_QUERY_NOT_FOUND"
  | "PERSISTED_QUERY_ONLY";

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = { UNAUTHENTICATED: 401, FORBIDDEN: 403 };

export function apiError(code: ErrorCode, message: string, extra: Record<string, unknown> = {}): GraphQLError {
  const status = HTTP_STATUS[code];
  return new GraphQLError(message, {
    extensions: { code, ...extra, ...(status !== undefined && { http: { status } }) },
  });
}

export const badInput = (message: string, field?: string) =>
  apiError("BAD_USER_INPUT", message, field ? { field } : {});

/** The shape of every mutation payload's `userErrors` entry. */
export interface UserError {
  code: string;
  /** Path of the input field at fault, e.g. ["input", "title"]; null when not tied to a field. */
  field: string[] | null;
  message: string;
}

export function userError(code: string, message: string, field: string[] | null = null): UserError {
  return { code, message, field };
}
