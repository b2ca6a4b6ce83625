/**
 * Reading values the compiler cannot type (parsed JSON, stored jsonb, thrown values, keys from
 * input) by checking them rather than casting: each guard narrows only what it has checked.
 * Pure, so the API, the workers, the CLI and the console all use them.
 */

/** A JSON object (not null, not an array). */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The field `name` of an object, or undefined for anything else. */
export const fieldOf = (value: unknown, name: string): unknown => isRecord(value) ? value[name] : undefined;

/** The field `name` when it is a string, else undefined. */
export function stringField(value: unknown, name: string): string | undefined {
  const field = fieldOf(value, name);
  return typeof field === "string" ? field : undefined;
}

/** `value` is one of `values` (a list `as const`), narrowed to that union. */
export function isOneOf<V extends string>(values: readonly V[], value: string): value is V {
  const texts: readonly string[] = values;
  return texts.includes(value);
}

/** `key` is an own key of `object`, narrowed to its keys. */
export const hasKey = <K extends string>(object: Readonly<Record<K, unknown>>, key: string): key is K =>
  Object.hasOwn(object, key);

/** The message of a thrown value: an Error's message, else the value as text. */
export const errorMessage = (error: unknown): string => error instanceof Error ? error.message : String(error);

/** The SQLSTATE of a thrown PostgreSQL error ("23505"), else undefined. */
export const sqlState = (error: unknown): string | undefined => stringField(error, "code");
