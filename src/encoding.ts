/** Byte encodings shared by tokens, global ids, cursors and input hashes. */

/** URL-safe base64 without padding. */
export function bytesToBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Hex SHA-256 of a value's JSON (idempotency and preview hashes). */
export async function sha256OfJson(value: unknown): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(value))));
}

/** Bytes (a digest) as lower-case hex. */
export function toHex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}
