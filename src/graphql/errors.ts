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

/**
 * The `http` extension of a document refused by a limit: HTTP 400 whatever the Accept header. `spec: false`
 * because Yoga answers spec-flagged validation errors with 200 to `Accept: application/json` clients, and
 * a refused bomb must not look like a success to proxies and load balancers. A fresh object each time:
 * Yoga writes into it.
 */
export const refusedHttp = () => ({ status: 400, spec: false });

export const badInput = (message: string, field?: string) =>
  apiError("BAD_USER_INPUT", message, field ? { field } : {});

/** The shape of every mutation payload's `userErrors` entry. */
export interface UserError {
  code: string;
  /** Path of the input field at fault, e.g. ["input", "title"]; null when not tied to a field. */
  field: string[] | null;
  message: string;
  /** When trying again can succeed (RATE_LIMITED, TOO_MANY_WAITING). */
  retryAt?: Date | null;
}

export function userError(
  code: string,
  message: string,
  field: string[] | null = null,
  retryAt: Date | null = null,
): UserError {
  return { code, message, field, retryAt };
}
