/**
 * An import's input, whatever way it came (inline rows, a multipart file, a staged upload),
 * read into the IMPORT_TICKETS action's records and parameters. A file's rows are a
 * RecordStream (src/bulk/start.ts): parsed batch by batch while the start writes the ledger,
 * the file's SHA-256 standing for them in the input hash. ImportFileError when the input as a
 * whole is refused (nothing is written then; a refusal found halfway rolls the start back).
 */
import { toHex } from "../encoding.ts";
import type { RecordStream } from "../bulk/start.ts";
import type { Db } from "../db/database.ts";
import { markDuplicates } from "./duplicates.ts";
import { type ColumnMapping, inlineRecords, openImport, readAhead } from "./parse.ts";
import {
  type ImportField,
  ImportFileError,
  type ImportFormat,
  type ImportMode,
  type ImportParams,
  type ImportRecord,
} from "./record.ts";
import { findUpload, uploadBytes } from "./uploads.ts";

/** Inline rows per request (the "up to 10,000 records per request"). */
export const INLINE_ROWS_MAX = 10_000;

export type ImportSource =
  | { kind: "rows"; rows: readonly Partial<Record<ImportField, string | null>>[] }
  | { kind: "file"; file: Blob }
  | { kind: "upload"; uploadId: string };

export interface ImportRequest {
  source: ImportSource;
  format: ImportFormat | null;
  mode: ImportMode;
  mapping: readonly ColumnMapping[] | null;
}

export interface ReadImport {
  params: ImportParams;
  records: ImportRecord[] | RecordStream;
}

/** The bytes of a file source and their SHA-256. */
async function fileBytes(db: Db, tenantId: string, source: Exclude<ImportSource, { kind: "rows" }>) {
  if (source.kind === "file") {
    // A multipart file is already in memory (at most MAX_BODY_BYTES); hashing it costs no copy.
    const digest = toHex(await crypto.subtle.digest("SHA-256", await source.file.arrayBuffer()));
    return { bytes: source.file.stream(), digest };
  }
  const upload = await findUpload(db, tenantId, source.uploadId);
  if (!upload.ok) {
    throw new ImportFileError(
      upload.code,
      upload.code === "NOT_FOUND"
        ? "No upload with this id (or it expired)."
        : "Nothing was uploaded yet: PUT the file to the upload's url first.",
      ["input", "source", "upload"],
    );
  }
  return { bytes: uploadBytes(db, source.uploadId), digest: upload.sha256 };
}

export async function readImport(
  db: Db,
  tenantId: string,
  request: ImportRequest,
  maxTargets: number,
): Promise<ReadImport> {
  const { source, mode } = request;
  if (source.kind === "rows") {
    const max = Math.min(INLINE_ROWS_MAX, maxTargets);
    if (source.rows.length > max) {
      throw new ImportFileError(
        "TOO_MANY_TARGETS",
        `At most ${max} inline rows (got ${source.rows.length}); upload a file instead.`,
        ["input", "source", "rows"],
      );
    }
    const { records, columns } = inlineRecords(source.rows, max);
    return { params: { format: "JSONL", mode, columns, header: null }, records };
  }
  if (!request.format) {
    throw new ImportFileError("INVALID_FILE", "Give the file's format (CSV or JSONL).", ["input", "format"]);
  }
  const { bytes, digest } = await fileBytes(db, tenantId, source);
  const opened = await openImport(bytes, { format: request.format, mapping: request.mapping, maxRows: maxTargets });
  return {
    params: { format: request.format, mode, columns: opened.columns, header: opened.header },
    // Read ahead again: the duplicates of the next batch are looked up while the start writes this one.
    records: { digest: `sha256:${digest}`, batches: readAhead(markDuplicates(db, opened.batches)) },
  };
}
