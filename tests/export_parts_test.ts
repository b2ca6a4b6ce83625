/**
 * A stored part read back slice by slice (src/exports/parts.ts partSlices) is byte for byte the part:
 * plain text whose slice boundary falls inside a surrogate pair, and gzip members stored as base64.
 */
import { expect } from "expect";
import { Buffer } from "node:buffer";
import { gunzipSync } from "node:zlib";
import { encodePart, partBytes, partSlices } from "../src/exports/parts.ts";

const joined = (slices: Iterable<Uint8Array>) => Buffer.concat([...slices]);

Deno.test("export parts: slices of a stored part are exactly its bytes (surrogate pairs, base64 quanta)", () => {
  // 262,143 ASCII characters, then emoji: the first 256 Ki-character slice would end inside a pair.
  const text = "a".repeat(262_143) + "😀é,\r\n".repeat(100_000) + "z";
  const bytes = new TextEncoder().encode(text);
  const plain = [...partSlices("NONE", encodePart("NONE", text))];
  expect(plain.length).toBeGreaterThan(2);
  expect(joined(plain).equals(Buffer.from(bytes))).toBe(true);
  expect(plain.every((slice) => new TextDecoder("utf-8", { fatal: true }).decode(slice).length > 0)).toBe(true);

  // Text that compresses badly, so its member's base64 spans several slices.
  const noisy = Array.from({ length: 240_000 }, (_, i) => ((i * 2_654_435_761) % 1_000_003).toString(36)).join(",");
  const stored = encodePart("GZIP", noisy);
  expect(stored.length).toBeGreaterThan(3 * 262_144);
  const gzip = joined(partSlices("GZIP", stored));
  expect(gzip.length).toBe(partBytes("GZIP", new TextEncoder().encode(stored).length));
  expect(gunzipSync(gzip).toString()).toBe(noisy);
  expect([...partSlices("NONE", "")]).toEqual([]);
});
