/**
 * Reading an import file into records (record.ts), streaming: the bytes are decoded as they
 * arrive (UTF-8, fatal on a bad sequence), CSV through npm csv-parse (RFC 4180 quoting, BOM),
 * JSONL line by line. What refuses the whole file (nothing is written): invalid UTF-8, an
 * empty file, a CSV syntax error (an unbalanced quote...), a header without a title column, a
 * JSONL line that is not a JSON object, a mapping naming an unknown column, more rows than the
 * limit. What fails only its row: a row with the wrong number of columns, a repeated
 * externalId (DUPLICATE_IN_FILE, the first occurrence is kept). Field values are judged later,
 * per chunk, by the action (src/tickets/actions/import.ts).
 */
import { CsvError, parse } from "csv-parse";
import { Readable } from "node:stream";
import {
  IMPORT_FIELDS,
  type ImportField,
  ImportFileError,
  type ImportFormat,
  type ImportParams,
  type ImportRecord,
} from "./record.ts";

export interface ColumnMapping {
  /** A CSV header name or a JSONL key. */
  column: string;
  field: ImportField;
}

export interface ParseOptions {
  format: ImportFormat;
  mapping?: readonly ColumnMapping[] | null;
  /** More rows than this refuses the file (BULK_MAX_TARGETS). */
  maxRows: number;
}

export interface ParsedImport {
  records: ImportRecord[];
  columns: ImportParams["columns"];
  header: string[] | null;
}

/** Column names understood without a mapping, compared case-insensitively. */
const DEFAULT_NAMES: Record<ImportField, readonly string[]> = {
  title: ["title"],
  body: ["body"],
  status: ["status"],
  priority: ["priority"],
  category: ["category"],
  assignee: ["assignee", "assignee_email", "assigneeemail", "assignee_id", "assigneeid"],
  externalId: ["externalid", "external_id"],
};

/** The bytes as text, refusing invalid UTF-8 (a BOM is dropped by the decoder). */
async function* utf8(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  try {
    for await (const chunk of bytes) {
      const text = decoder.decode(chunk, { stream: true });
      if (text) yield text;
    }
    const tail = decoder.decode();
    if (tail) yield tail;
  } catch (error) {
    if (error instanceof TypeError) throw new ImportFileError("INVALID_ENCODING", "The file is not valid UTF-8.");
    throw error;
  }
}

/** field -> where: the explicit mapping first, then the default names for the fields it left. */
function resolveColumns(names: readonly string[], options: ParseOptions, indexed: boolean): ImportParams["columns"] {
  const columns: ImportParams["columns"] = {};
  const used = new Set<number>();
  for (const { column, field } of options.mapping ?? []) {
    const index = names.indexOf(column);
    if (index < 0 && indexed) {
      throw new ImportFileError("INVALID_MAPPING", `The mapping names column "${column}", which the header lacks.`, [
        "input",
        "mapping",
      ]);
    }
    if (columns[field] !== undefined) {
      throw new ImportFileError("INVALID_MAPPING", `The mapping maps two columns to ${field}.`, ["input", "mapping"]);
    }
    columns[field] = indexed ? index : column;
    used.add(index);
  }
  for (const field of IMPORT_FIELDS) {
    if (columns[field] !== undefined) continue;
    const index = names.findIndex((name, i) => !used.has(i) && DEFAULT_NAMES[field].includes(name.toLowerCase()));
    if (index >= 0) {
      columns[field] = indexed ? index : names[index];
      used.add(index);
    }
  }
  return columns;
}

/** Marks later rows repeating an externalId (DUPLICATE_IN_FILE) and counts rows against the limit. */
class RowCollector {
  readonly records: ImportRecord[] = [];
  private readonly firstRowOf = new Map<string, number>();

  constructor(private readonly maxRows: number) {}

  add(record: ImportRecord): void {
    if (this.records.length >= this.maxRows) {
      throw new ImportFileError("TOO_MANY_TARGETS", `At most ${this.maxRows} rows per import.`);
    }
    const key = record.externalId;
    if (key !== undefined && !record.error) {
      const first = this.firstRowOf.get(key);
      if (first === undefined) this.firstRowOf.set(key, record.row);
      else {
        record.error = {
          code: "DUPLICATE_IN_FILE",
          field: "externalId",
          message: `Row ${first} has the same externalId; only the first one is imported.`,
        };
      }
    }
    this.records.push(record);
  }
}

const externalIdOf = (value: unknown): string | undefined =>
  value === undefined || value === null || value === "" ? undefined : String(value);

async function parseCsv(bytes: AsyncIterable<Uint8Array>, options: ParseOptions): Promise<ParsedImport> {
  const source = Readable.from(utf8(bytes));
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true });
  source.on("error", (error) => parser.destroy(error));
  source.pipe(parser);
  const collector = new RowCollector(options.maxRows);
  let header: string[] | null = null;
  let columns: ImportParams["columns"] = {};
  try {
    for await (const fields of parser as AsyncIterable<string[]>) {
      if (header === null) {
        header = fields.map((name) => name.trim());
        columns = resolveColumns(header, options, true);
        if (columns.title === undefined) {
          throw new ImportFileError(
            "MISSING_TITLE_COLUMN",
            `The header has no title column (it has: ${header.join(", ").slice(0, 200)}); map one with mapping.`,
          );
        }
        continue;
      }
      const row = collector.records.length + 1;
      const record: ImportRecord = { row, source: fields };
      if (fields.length !== header.length) {
        record.error = {
          code: "INVALID_ROW",
          field: null,
          message: `The row has ${fields.length} columns; the header has ${header.length}.`,
        };
      } else if (columns.externalId !== undefined) {
        record.externalId = externalIdOf(fields[columns.externalId as number]);
      }
      collector.add(record);
    }
  } catch (error) {
    source.destroy();
    if (error instanceof CsvError) throw new ImportFileError("INVALID_FILE", `Not a valid CSV file: ${error.message}`);
    throw error;
  }
  if (header === null) throw new ImportFileError("EMPTY_FILE", "The file is empty.");
  if (collector.records.length === 0) throw new ImportFileError("EMPTY_FILE", "The file has a header but no rows.");
  return { records: collector.records, columns, header };
}

async function parseJsonl(bytes: AsyncIterable<Uint8Array>, options: ParseOptions): Promise<ParsedImport> {
  const collector = new RowCollector(options.maxRows);
  const columns = resolveColumns(
    [...new Set([...(options.mapping ?? []).map((m) => m.column), ...IMPORT_FIELDS])],
    options,
    false,
  );
  let line = 0;
  const take = (text: string) => {
    line++;
    if (text.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ImportFileError("INVALID_FILE", `Not a valid JSONL file: line ${line} is not JSON.`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new ImportFileError("INVALID_FILE", `Not a valid JSONL file: line ${line} is not a JSON object.`);
    }
    const source = value as Record<string, unknown>;
    const key = columns.externalId === undefined ? undefined : externalIdOf(source[columns.externalId as string]);
    collector.add({ row: collector.records.length + 1, source, ...(key !== undefined && { externalId: key }) });
  };
  let pending = "";
  for await (const text of utf8(bytes)) {
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const l of lines) take(l.endsWith("\r") ? l.slice(0, -1) : l);
  }
  if (pending !== "") take(pending);
  if (collector.records.length === 0) throw new ImportFileError("EMPTY_FILE", "The file is empty.");
  return { records: collector.records, columns, header: null };
}

/** Reads a whole import file; throws ImportFileError when the file as a whole is refused. */
export function parseImport(bytes: AsyncIterable<Uint8Array>, options: ParseOptions): Promise<ParsedImport> {
  return options.format === "CSV" ? parseCsv(bytes, options) : parseJsonl(bytes, options);
}

/** Inline rows (typed input): the same records, keyed by field name. */
export function inlineRecords(
  rows: readonly Partial<Record<ImportField, string | null>>[],
  maxRows: number,
): ParsedImport {
  const collector = new RowCollector(maxRows);
  for (const [index, given] of rows.entries()) {
    const source = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== null && v !== undefined));
    const key = externalIdOf(source.externalId);
    collector.add({ row: index + 1, source, ...(key !== undefined && { externalId: key }) });
  }
  if (collector.records.length === 0) {
    throw new ImportFileError("EMPTY_FILE", "There are no rows.", ["input", "source", "rows"]);
  }
  const columns = Object.fromEntries(IMPORT_FIELDS.map((f) => [f, f])) as ImportParams["columns"];
  return { records: collector.records, columns, header: null };
}
