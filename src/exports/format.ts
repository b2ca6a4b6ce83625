/**
 * The vocabulary of a bulk export, shared by the action that renders the parts (worker
 * threads), the download route and the GraphQL API: formats, compressions, what a rendered
 * record holds, and how the stored parts assemble into the file. No I/O.
 *
 * A file is `prefix + the non-empty parts joined by separator + suffix`. Each part is what
 * one chunk rendered for its tickets, in input order; the prefix, separator and suffix come
 * from the parameters alone, so the download computes them (and the file's exact length)
 * without reading any part. Only JSON has a separator (the comma between two chunks' array
 * elements); the line formats end every record with its own line break.
 */

export const EXPORT_FORMATS = ["CSV", "JSONL", "JSON", "MARKDOWN"] as const;
export type ExportFormat = typeof EXPORT_FORMATS[number];

export const EXPORT_COMPRESSIONS = ["NONE", "GZIP"] as const;
export type ExportCompression = typeof EXPORT_COMPRESSIONS[number];

/** The GraphQL enums of the two (src/bulk/action-schema.ts EnumDescriptor: data, no schema builder). */
export const EXPORT_FORMAT_ENUM = {
  enum: "BulkExportFormat",
  description: "CSV: RFC 4180 with a header row, formula cells neutralised. JSONL: one object per line. " +
    "JSON: one array. MARKDOWN: one section per ticket.",
  values: EXPORT_FORMATS,
} as const;
export const EXPORT_COMPRESSION_ENUM = {
  enum: "BulkExportCompression",
  description: "GZIP: the file is gzipped (tickets-<date>.csv.gz, application/gzip).",
  values: EXPORT_COMPRESSIONS,
} as const;

/** A comment as exported (includeComments). */
export interface ExportComment {
  authorId: string;
  body: string;
  createdAt: string;
}

/** One exported record: its field values in field order, and its comments when asked for. */
export interface ExportRecord {
  values: Record<string, string | number | null>;
  comments?: ExportComment[];
}

/** The parameters an EXPORT operation stores (action_params). */
export interface ExportParams {
  format: ExportFormat;
  compression: ExportCompression;
  /** The exported fields, in output order. */
  fields: string[];
  includeComments: boolean;
}

/** How the parts of an export assemble into its file. */
export interface Framing {
  prefix: string;
  separator: string;
  suffix: string;
}

const EXTENSIONS: Record<ExportFormat, string> = { CSV: "csv", JSONL: "jsonl", JSON: "json", MARKDOWN: "md" };

const CONTENT_TYPES: Record<ExportFormat, string> = {
  CSV: "text/csv; charset=utf-8",
  JSONL: "application/x-ndjson",
  JSON: "application/json",
  MARKDOWN: "text/markdown; charset=utf-8",
};

/** `tickets-2026-12-01.csv`, `.csv.gz` when gzipped. */
export function fileName(noun: string, params: ExportParams, createdAt: Date): string {
  const gz = params.compression === "GZIP" ? ".gz" : "";
  return `${noun}-${createdAt.toISOString().slice(0, 10)}.${EXTENSIONS[params.format]}${gz}`;
}

export function contentType(params: ExportParams): string {
  return params.compression === "GZIP" ? "application/gzip" : CONTENT_TYPES[params.format];
}
