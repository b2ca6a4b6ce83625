/**
 * Global ids and cursors. Both are opaque base64url strings; a malformed one is a
 * BAD_USER_INPUT error, never an internal error.
 *   global id: base64url("Ticket:42")
 *   cursor:    base64url(JSON array of the keyset values of a row)
 */
import { type GraphQLSchema, isAbstractType } from "graphql";
import { bytesToBase64Url } from "../encoding.ts";
import { badInput } from "./errors.ts";

const toBase64Url = (text: string) => bytesToBase64Url(new TextEncoder().encode(text));

/**
 * One decoder for every id: constructing a TextDecoder and a Uint8Array per id was a quarter of a
 * 10,000-id start (22 ms per request of 52-229 ms, inspector profile of bench/api_bench.ts (a),
 * docs/performance.md). An id that decodes to ASCII (every id this API mints) is its own UTF-8.
 */
const utf8 = new TextDecoder("utf-8", { fatal: true });
const NON_ASCII = /[\u0080-\uffff]/;

function fromBase64Url(value: string): string | null {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(value) || value.length > 400) return null;
  try {
    const binary = atob(value.replaceAll("-", "+").replaceAll("_", "/"));
    if (!NON_ASCII.test(binary)) return binary;
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

export function encodeId(typename: string, id: string | number | bigint): string {
  return toBase64Url(`${typename}:${id}`);
}

/** `field` names the input field in the error, so a client can point at the bad id. */
function parseId(globalId: string, field?: string): { typename: string; id: string } {
  const decoded = fromBase64Url(globalId);
  const match = decoded ? /^([A-Za-z]\w*):(.+)$/.exec(decoded) : null;
  if (!match) throw badInput(`Malformed id: ${JSON.stringify(globalId.slice(0, 100))}`, field);
  return { typename: match[1], id: match[2] };
}

/**
 * The relay plugin's decodeGlobalID (`node(id:)`), which passes the context second: one parameter only.
 * A type that is not a Node, or a key not of its SQL type, is BAD_USER_INPUT here: the relay plugin would
 * otherwise answer with an untyped "Foo has not been implemented" / "is not a Node" internal error.
 */
export function decodeId(globalId: string): { typename: string; id: string } {
  const decoded = parseId(globalId);
  if (!NODE_TYPES.has(decoded.typename)) {
    throw badInput(`The id ${JSON.stringify(globalId.slice(0, 100))} names no Node type of this API.`);
  }
  if (!KEY_FORMAT[decoded.typename].test(decoded.id)) throw badInput(`Malformed ${decoded.typename} id.`);
  return decoded;
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Positive bigint ids, at most 18 digits so they always fit int8. */
export const BIGINT_PATTERN = /^[1-9]\d{0,17}$/;

/** Id format of each node type's primary key (a new node type must be added here). */
const KEY_FORMAT: Record<string, RegExp> = {
  Ticket: BIGINT_PATTERN,
  Comment: BIGINT_PATTERN,
  User: UUID_PATTERN,
  Tenant: UUID_PATTERN,
  BulkOperation: UUID_PATTERN,
  BulkPreview: UUID_PATTERN,
  BulkUpload: UUID_PATTERN,
  BulkOperationEvent: BIGINT_PATTERN,
  WebhookEndpoint: UUID_PATTERN,
  WebhookDelivery: BIGINT_PATTERN,
};

/**
 * The types `node(id:)` serves (those declared with builder.node). Listed here because decodeId runs inside the
 * builder's relay options, before the schema exists; assertNodeTypes checks the list against the built schema.
 */
const NODE_TYPES = new Set(["Ticket", "Comment", "User", "BulkOperation", "WebhookEndpoint", "WebhookDelivery"]);

/** Throws unless NODE_TYPES are exactly the schema's implementations of Node, each with a KEY_FORMAT (at start). */
export function assertNodeTypes(schema: GraphQLSchema): void {
  const node = schema.getType("Node");
  const implementations = isAbstractType(node) ? schema.getPossibleTypes(node).map((type) => type.name) : [];
  const listed = [...NODE_TYPES].sort().join(", ");
  if (implementations.sort().join(", ") !== listed) {
    throw new Error(`ids.ts NODE_TYPES lists ${listed}; the schema's Node types are ${implementations.join(", ")}`);
  }
  const unkeyed = implementations.filter((name) => !KEY_FORMAT[name]);
  if (unkeyed.length > 0) throw new Error(`ids.ts KEY_FORMAT has no id format for ${unkeyed.join(", ")}`);
}

/**
 * Decodes a global id that must name a `typename`; returns the database key.
 * `field` names the input field in the error (e.g. "assigneeId").
 */
export function expectId(globalId: string, typename: string, field?: string): string {
  const { typename: actual, id } = parseId(globalId, field);
  if (actual !== typename) {
    throw badInput(`Expected a ${typename} id, got a ${actual} id${field ? ` in ${field}` : ""}.`, field);
  }
  if (!(KEY_FORMAT[typename]?.test(id) ?? true)) throw badInput(`Malformed ${typename} id.`, field);
  return id;
}

export function encodeCursor(values: readonly (string | number)[]): string {
  return toBase64Url(JSON.stringify(values));
}

/**
 * Whether an ISO 8601 date-time (already shaped `YYYY-MM-DDTHH:MM...`) is one PostgreSQL accepts: a real
 * calendar date (Date.parse rolls 2024-02-30 over to March 1st; PostgreSQL refuses it) in year 1 or later
 * (PostgreSQL has no year 0), and a real time of day.
 */
export function isSqlTimestamp(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0));
  const calendar = new Date(Date.UTC(year, month - 1, day));
  calendar.setUTCFullYear(year); // Date.UTC maps years 0-99 to 1900-1999
  return year >= 1 && calendar.getUTCMonth() === month - 1 && calendar.getUTCDate() === day &&
    hour <= 23 && minute <= 59 && second <= 59 && !Number.isNaN(Date.parse(value));
}

/**
 * What one keyset value of a cursor must be; checked before it reaches SQL. "timestamp" is a timestamptz to
 * the microsecond in UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
 */
export type CursorKey = "bigint" | "uuid" | "timestamp" | "position";

/**
 * Item positions are int4, and a page reads up to `position + page size`: a cursor at 2147483647
 * overflowed int4 in SQL (an internal error). No operation comes near this many items.
 */
const POSITION_MAX = 2 ** 31 - 1 - 1000;

const CURSOR_KEYS: Record<CursorKey, (value: unknown) => boolean> = {
  bigint: (v) => typeof v === "string" && BIGINT_PATTERN.test(v),
  uuid: (v) => typeof v === "string" && UUID_PATTERN.test(v),
  // Exactly six fractional digits, as history.ts's createdAtKey renders the stored value: a millisecond
  // cursor of before (toISOString) would seek from a truncated value, so it is refused, not half-honoured.
  timestamp: (v) =>
    typeof v === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(v) && isSqlTimestamp(v),
  position: (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v <= POSITION_MAX,
};

/**
 * Decodes a cursor into keyset values, each checked against its `keys` kind: a cursor is
 * opaque but client-supplied, so a forged one is BAD_USER_INPUT, never a database error.
 */
export function decodeCursor<const S extends readonly CursorKey[]>(cursor: string, keys: S): Keyset<S> {
  const decoded = fromBase64Url(cursor);
  let values: unknown;
  try {
    values = decoded ? JSON.parse(decoded) : null;
  } catch {
    values = null;
  }
  if (!isKeyset(values, keys)) throw badInput(`Malformed cursor: ${JSON.stringify(cursor.slice(0, 100))}`);
  return values;
}

/** The keyset values of a cursor of shape S: a number for a position, a string for the others. */
export type Keyset<S extends readonly CursorKey[]> = {
  -readonly [I in keyof S]: S[I] extends "position" ? number : string;
};

function isKeyset<S extends readonly CursorKey[]>(values: unknown, keys: S): values is Keyset<S> {
  return Array.isArray(values) && values.length === keys.length && values.every((v, i) => CURSOR_KEYS[keys[i]](v));
}
