/**
 * An export's file as a sequence of segments: the framing (prefix, separators, suffix; from
 * the parameters) and the stored parts (bulk_operation_parts, in chunk order). The plan needs
 * only each part's stored length (one index-ordered query, no part is read), so the file's
 * exact length and any byte range are known before the first byte is sent; the bytes are then
 * read one part per query and sent 256 Ki characters' worth per pull (parts.ts partSlices), as
 * fast as the client takes them (constant memory whatever the size).
 * Empty parts (every ticket of a chunk vanished) are left out, separators included.
 */
import type { Db } from "../db/database.ts";
import type { ExportParams } from "./format.ts";
import { gzipMember, partBytes, partSlices } from "./parts.ts";
import { framingOf } from "./render.ts";

type Segment =
  | { kind: "bytes"; bytes: Uint8Array; length: number }
  | { kind: "part"; chunkIndex: number; length: number };

export interface ExportFile {
  segments: Segment[];
  length: number;
}

const encoder = new TextEncoder();

export async function planFile(db: Db, operationId: string, params: ExportParams, noun: string): Promise<ExportFile> {
  const parts = await db.selectFrom("bulk_operation_parts")
    .select(["chunk_index", (eb) => eb.fn<number>("octet_length", ["body"]).as("octets")])
    .where("operation_id", "=", operationId).orderBy("chunk_index").execute();
  const framing = framingOf(params, noun);
  const fixed = (text: string): Segment[] => {
    if (text === "") return [];
    const bytes = params.compression === "GZIP" ? gzipMember(text) : encoder.encode(text);
    return [{ kind: "bytes", bytes, length: bytes.length }];
  };
  const separator = fixed(framing.separator);
  const segments: Segment[] = [...fixed(framing.prefix)];
  let first = true;
  for (const part of parts) {
    if (part.octets === 0) continue;
    if (!first) segments.push(...separator);
    first = false;
    segments.push({ kind: "part", chunkIndex: part.chunk_index, length: partBytes(params.compression, part.octets) });
  }
  segments.push(...fixed(framing.suffix));
  return { segments, length: segments.reduce((sum, s) => sum + s.length, 0) };
}

async function readPart(db: Db, operationId: string, chunkIndex: number, params: ExportParams) {
  const { body } = await db.selectFrom("bulk_operation_parts").select("body")
    .where("operation_id", "=", operationId).where("chunk_index", "=", chunkIndex).executeTakeFirstOrThrow();
  return partSlices(params.compression, body);
}

/**
 * Bytes queued ahead of the ones being sent, so the next part's query overlaps the sending of
 * the current one. Counted in bytes, not parts: an export's parts are BULK_EXPORT_CHUNK_SIZE
 * tickets (about 3.4 MB of CSV at 20,000), so two parts ahead per download, as when parts were
 * 2,000 tickets (~340 KB), would hold ~7 MB per client.
 */
const READ_AHEAD_BYTES = 1 << 20;

/**
 * Bytes [start, end] (inclusive) of the file, streamed: segments before `start` are skipped
 * by their known lengths without being read. A part deleted meanwhile (deleteBulkExport,
 * retention) errors the stream, so the client sees a broken transfer rather than a short file.
 */
export function streamFile(
  db: Db,
  operationId: string,
  params: ExportParams,
  file: ExportFile,
  range: { start: number; end: number },
): ReadableStream<Uint8Array> {
  let index = 0;
  let offset = 0; // the file offset where segments[index] starts
  let slices: Iterator<Uint8Array> | null = null; // of segments[index] once it is being sent
  let within = 0; // bytes of segments[index] already passed
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (!slices) {
          while (index < file.segments.length && offset + file.segments[index].length <= range.start) {
            offset += file.segments[index++].length;
          }
          if (index >= file.segments.length || offset > range.end) return controller.close();
          const segment = file.segments[index];
          slices = segment.kind === "bytes"
            ? [segment.bytes][Symbol.iterator]()
            : await readPart(db, operationId, segment.chunkIndex, params);
          within = 0;
        }
        const next = slices.next();
        if (next.done) {
          offset += file.segments[index++].length;
          slices = null;
          continue;
        }
        const bytes = next.value;
        const at = offset + within; // the file offset of bytes[0]
        within += bytes.length;
        const from = Math.max(0, range.start - at);
        const to = Math.min(bytes.length, range.end - at + 1);
        if (to <= from) {
          if (at > range.end) return controller.close();
          continue; // wholly before the range
        }
        return controller.enqueue(from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to));
      }
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: READ_AHEAD_BYTES }));
}
