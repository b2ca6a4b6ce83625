/**
 * An import's input, whatever way it came (inline rows, a multipart file, a staged upload),
 * read into the IMPORT_TICKETS action's records and parameters. ImportFileError when the input
 * as a whole is refused (nothing is written then).
 */
import type { Db } from "../db/database.ts";
import { type ColumnMapping, inlineRecords, type ParsedImport, parseImport } from "./parse.ts";
import { type ImportField, ImportFileError, type ImportFormat, type ImportMode, type ImportParams } from "./record.ts";
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
  records: ParsedImport["records"];
}

export async function readImport(
  db: Db,
  tenantId: string,
  request: ImportRequest,
  maxTargets: number,
): Promise<ReadImport> {
  const { source, mode } = request;
  if (source.kind === "rows") {
    if (source.rows.length > Math.min(INLINE_ROWS_MAX, maxTargets)) {
      throw new ImportFileError(
        "TOO_MANY_TARGETS",
        `At most ${
          Math.min(INLINE_ROWS_MAX, maxTargets)
        } inline rows (got ${source.rows.length}); upload a file instead.`,
        ["input", "source", "rows"],
      );
    }
    const parsed = inlineRecords(source.rows, maxTargets);
    return { params: { format: "JSONL", mode, columns: parsed.columns, header: null }, records: parsed.records };
  }
  if (!request.format) {
    throw new ImportFileError("INVALID_FILE", "Give the file's format (CSV or JSONL).", ["input", "format"]);
  }
  let bytes: AsyncIterable<Uint8Array>;
  if (source.kind === "upload") {
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
    bytes = uploadBytes(db, source.uploadId);
  } else {
    bytes = source.file.stream();
  }
  const parsed = await parseImport(bytes, { format: request.format, mapping: request.mapping, maxRows: maxTargets });
  return {
    params: { format: request.format, mode, columns: parsed.columns, header: parsed.header },
    records: parsed.records,
  };
}
