/**
 * Relay keyset pagination shared by every connection. No OFFSET: each page is one index
 * range scan from the cursor's keyset values, so page 1,000 of a million items costs what
 * page 1 costs, and rows inserted meanwhile never shift or repeat rows across pages.
 */
import { GraphQLError } from "graphql";
import { badInput } from "./errors.ts";
import { type CursorKey, decodeCursor, encodeCursor, type Keyset } from "./ids.ts";

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

export interface ConnectionArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

type Key = (string | number)[];

/** A page of a connection whose cursor holds the keyset K (PageRequest<Keyset<["bigint"]>> seeks from [id]). */
export interface PageRequest<K extends Key = Key> {
  /** forward: the connection's natural order from `after`; backward: reverse order from `before`. */
  direction: "forward" | "backward";
  /** Rows the page shows; fetch limit + 1 to learn whether there are more. */
  limit: number;
  /** Keyset values to seek past (exclusive), in the fetch direction. */
  seek?: K;
}

/** Why `value` is no page size for the argument `name`, or null when it is one (also checked at validation). */
export function pageSizeProblem(value: number, name: string): string | null {
  return Number.isInteger(value) && value >= 0 && value <= MAX_PAGE_SIZE
    ? null
    : `\`${name}\` must be between 0 and ${MAX_PAGE_SIZE}, got ${value}.`;
}

function pageSize(value: number | null | undefined, name: string): number | undefined {
  if (value === null || value === undefined) return undefined;
  const problem = pageSizeProblem(value, name);
  if (problem) throw badInput(problem, name);
  return value;
}

/** Decodes a cursor argument; a malformed one is BAD_USER_INPUT naming the argument. */
function seekOf<S extends readonly CursorKey[]>(cursor: string, shape: S, field: "after" | "before"): Keyset<S> {
  try {
    return decodeCursor(cursor, shape);
  } catch (error) {
    if (error instanceof GraphQLError) throw badInput(error.message, field);
    throw error;
  }
}

/** Validates connection arguments; `shape` is the kind of each of the cursor's keyset values. */
export function pageRequest<const S extends readonly CursorKey[]>(
  args: ConnectionArgs,
  shape: S,
): PageRequest<Keyset<S>> {
  const first = pageSize(args.first, "first");
  const last = pageSize(args.last, "last");
  if (first !== undefined && last !== undefined) throw badInput("Pass `first` or `last`, not both.", "last");
  if (last !== undefined || (args.before && first === undefined)) {
    if (args.after) throw badInput("`after` goes with `first`; `before` goes with `last`.", "after");
    return {
      direction: "backward",
      limit: last ?? DEFAULT_PAGE_SIZE,
      seek: args.before ? seekOf(args.before, shape, "before") : undefined,
    };
  }
  if (args.before) throw badInput("`after` goes with `first`; `before` goes with `last`.", "before");
  return {
    direction: "forward",
    limit: first ?? DEFAULT_PAGE_SIZE,
    seek: args.after ? seekOf(args.after, shape, "after") : undefined,
  };
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** Builds the connection from rows fetched (limit + 1 of them) in the request's direction. */
export function toConnection<T>(rows: T[], request: PageRequest, keyOf: (row: T) => Key): Connection<T> {
  const hasMore = rows.length > request.limit;
  const page = rows.slice(0, request.limit);
  if (request.direction === "backward") page.reverse();
  const edges = page.map((node) => ({ cursor: encodeCursor(keyOf(node)), node }));
  const seeked = request.seek !== undefined;
  return {
    edges,
    pageInfo: {
      hasNextPage: request.direction === "forward" ? hasMore : seeked,
      hasPreviousPage: request.direction === "backward" ? hasMore : seeked,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
