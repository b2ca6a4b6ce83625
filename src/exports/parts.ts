/**
 * How a part is stored in bulk_operation_parts.body (text, migration 0011) and read back.
 *
 * NONE: the rendered text itself (PostgreSQL compresses large values at rest anyway).
 * GZIP: each part is compressed ONCE, in the chunk's transaction, as a gzip member of its
 * own. Members concatenate into one valid gzip stream (RFC 1952, section 2.2: a file is a
 * series of members; gunzip, curl --compressed, browsers and node:zlib read them all), so the
 * download is the stored members and the framing's members in order: its exact length is
 * known before sending (Content-Length), a range is served by skipping whole parts, and the
 * CPU cost is paid by the worker once, not by the API per download (three clients
 * downloading at once do not compress three times). The engine's part column is text, so a
 * gzip member is stored as unpadded base64 (4/3 of its size); its byte length follows from
 * the stored length alone. A bytea column would save that third: a seam change left out
 * while the engine's storage is being rewritten (docs/architecture.md, "Bulk export").
 */
import { Buffer } from "node:buffer";
import { gzipSync } from "node:zlib";
import type { ExportCompression } from "./format.ts";

/** One gzip member. node:zlib writes mtime 0, so the same text always gives the same bytes. */
export function gzipMember(text: string): Uint8Array {
  return gzipSync(text);
}

export function encodePart(compression: ExportCompression, text: string): string {
  if (compression === "NONE" || text === "") return text;
  return Buffer.from(gzipMember(text)).toString("base64").replace(/=+$/, "");
}

/**
 * Characters of a stored part decoded per slice: a multiple of 4 (whole base64 quanta), a small
 * fraction of a 20,000-ticket part, and large enough that the writes stay few: with 64 Ki the
 * single download of 200,000 tickets ran at 22-25 MB/s where whole parts ran at 51 MB/s (load 10-12).
 */
const SLICE_CHARS = 1 << 18;

const encoder = new TextEncoder();

/**
 * The file bytes of a stored part, slice by slice: a part of 20,000 tickets is ~3.4 MB, and decoding it
 * whole held a second copy of that size per download next to the string (three clients downloading a
 * 200,000-ticket export peaked at 367 MB, docs/performance.md "Session 4: export"). A slice never splits
 * a UTF-16 surrogate pair (its end moves back one), so the slices' bytes are exactly the part's UTF-8.
 */
export function* partSlices(compression: ExportCompression, stored: string): Generator<Uint8Array> {
  for (let from = 0; from < stored.length;) {
    let to = Math.min(stored.length, from + SLICE_CHARS);
    const last = stored.charCodeAt(to - 1);
    if (compression === "NONE" && to < stored.length && last >= 0xd800 && last <= 0xdbff) to--;
    const text = stored.slice(from, to);
    yield compression === "NONE" ? encoder.encode(text) : Buffer.from(text, "base64");
    from = to;
  }
}

/** A part's byte length in the file from octet_length(body). */
export function partBytes(compression: ExportCompression, storedOctets: number): number {
  return compression === "NONE" ? storedOctets : Math.floor((storedOctets * 3) / 4);
}
