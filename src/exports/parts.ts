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

export function decodePart(compression: ExportCompression, stored: string): Uint8Array {
  return compression === "NONE" ? new TextEncoder().encode(stored) : Buffer.from(stored, "base64");
}

/** A part's byte length in the file from octet_length(body). */
export function partBytes(compression: ExportCompression, storedOctets: number): number {
  return compression === "NONE" ? storedOctets : Math.floor((storedOctets * 3) / 4);
}
