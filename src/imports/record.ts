/**
 * What an import row is in the ledger: the IMPORT_TICKETS action's record (the item's planned
 * `after`, src/bulk/action.ts). A record keeps the row as given (`source`), so the failed-rows
 * download returns it unchanged; the mapping to ticket fields lives once in the operation's
 * parameters (ImportParams.columns) and is applied per chunk by the action, which also
 * validates the values: a preview and a run decide with the same code.
 */

/** The ticket fields a row can give. */
export const IMPORT_FIELDS = ["title", "body", "status", "priority", "category", "assignee", "externalId"] as const;
export type ImportField = typeof IMPORT_FIELDS[number];

/**
 * Column names understood without a mapping, compared case-insensitively. Here, in a module without imports, so
 * the console (src/dashboard/import-flow.ts) shows the same default mapping the server applies.
 */
export const DEFAULT_NAMES: Record<ImportField, readonly string[]> = {
  title: ["title"],
  body: ["body"],
  status: ["status"],
  priority: ["priority"],
  category: ["category"],
  assignee: ["assignee", "assignee_email", "assigneeemail", "assignee_id", "assigneeid"],
  externalId: ["externalid", "external_id"],
};

export const IMPORT_FORMATS = ["CSV", "JSONL"] as const;
export type ImportFormat = typeof IMPORT_FORMATS[number];

export const IMPORT_MODES = ["CREATE", "UPSERT"] as const;
export type ImportMode = typeof IMPORT_MODES[number];

/** A row problem found while reading the file: the row ends FAILED with it, the others go on. */
export interface RowError {
  code: "INVALID_ROW" | "DUPLICATE_IN_FILE";
  field: ImportField | null;
  message: string;
}

/** The error of a row repeating the externalId of row `firstRow` (that one is imported). */
export const duplicateInFile = (firstRow: number): RowError => ({
  code: "DUPLICATE_IN_FILE",
  field: "externalId",
  message: `Row ${firstRow} has the same externalId; only the first one is imported.`,
});

export interface ImportRecord {
  /** 1-based row number, the header excluded (= position + 1). */
  row: number;
  /** CSV: the row's fields in file order. JSONL and inline rows: the object as given. */
  source: string[] | Record<string, unknown>;
  /** The row's externalId, when it has one (what importKeys looks tickets up by). */
  externalId?: string;
  error?: RowError;
}

export interface ImportParams {
  format: ImportFormat;
  mode: ImportMode;
  /**
   * Where each mapped field is found in a record's source: a column index (CSV) or a key
   * (JSONL, inline rows). Fields not listed are not given by the file.
   */
  columns: Partial<Record<ImportField, number | string>>;
  /** CSV: the header row as given (the failed-rows download repeats it). */
  header: string[] | null;
}

/** The file as a whole is refused: nothing is written. */
export class ImportFileError extends Error {
  constructor(readonly code: ImportFileErrorCode, message: string, readonly field: string[] = ["input", "source"]) {
    super(message);
    this.name = "ImportFileError";
  }
}

export type ImportFileErrorCode =
  | "INVALID_FILE"
  | "INVALID_ENCODING"
  | "EMPTY_FILE"
  | "MISSING_TITLE_COLUMN"
  | "INVALID_MAPPING"
  | "TOO_MANY_TARGETS"
  | "NOT_FOUND"
  | "UPLOAD_INCOMPLETE";

/**
 * The value a record gives for a field, as text; undefined when it gives none (no such column
 * or key, an empty cell, null): on create the field's default, on update the field is kept.
 */
export function fieldValue(record: ImportRecord, params: ImportParams, field: ImportField): string | undefined {
  const where = params.columns[field];
  if (where === undefined) return undefined;
  const value = Array.isArray(record.source)
    ? record.source[where as number]
    : (record.source as Record<string, unknown>)[where as string];
  if (value === undefined || value === null || value === "") return undefined;
  return typeof value === "string" ? value : JSON.stringify(value);
}
