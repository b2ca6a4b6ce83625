/**
 * Reading an import file into records (record.ts), streaming: the bytes are decoded as they
 * arrive (UTF-8, fatal on a bad sequence), parsed (CSV through npm csv-parse: RFC 4180 quoting,
 * BOM; JSONL line by line) and the rows handed on in batches, so the file is never held whole. What refuses the whole file (nothing is written): invalid UTF-8, an
 * empty file, a CSV syntax error (an unbalanced quote...), a header without a title column, a
 * JSONL line that is not a JSON object, a mapping naming an unknown column, more rows than the
 * limit. What fails only its row: a row with the wrong number of columns. A repeated externalId
 * (DUPLICATE_IN_FILE, the first occurrence is kept) is found when the rows are keyed, and field
 * values are judged per chunk, both by the action (src/tickets/actions/import.ts).
 */
import { CsvError, parse } from "csv-parse";
import { Readable } from "node:stream";
import {
  DEFAULT_NAMES,
  duplicateInFile,
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

/** The bytes as text, refusing invalid UTF-8 (a BOM is dropped by the decoder). */
async function* utf8(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const decode = (chunk?: Uint8Array) => {
    try {
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    } catch {
      throw new ImportFileError("INVALID_ENCODING", "The file is not valid UTF-8.");
    }
  };
  for await (const chunk of bytes) {
    const text = decode(chunk);
    if (text) yield text;
  }
  const tail = decode();
  if (tail) yield tail;
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

/** Rows per batch handed to the start (one INSERT into the ledger each): bounded memory, few statements. */
export const BATCH_ROWS = 5000;

/**
 * Numbers the rows and refuses the file at the row limit. A repeated externalId is found by the
 * action's importKeys, in the database (src/tickets/actions/import.ts): a map of every externalId
 * seen held here grew with the file (1,000,000 keys: ~70 MB live in the API's heap while staging).
 */
class RowCounter {
  rows = 0;

  constructor(private readonly maxRows: number) {}

  next(source: ImportRecord["source"], externalId: string | undefined, error?: ImportRecord["error"]): ImportRecord {
    if (this.rows >= this.maxRows) {
      throw new ImportFileError("TOO_MANY_TARGETS", `At most ${this.maxRows} rows per import.`);
    }
    return {
      row: ++this.rows,
      source,
      ...(error ? { error } : externalId !== undefined && { externalId }),
    };
  }
}

const externalIdOf = (value: unknown): string | undefined =>
  value === undefined || value === null || value === "" ? undefined : String(value);

/** Groups records into batches of BATCH_ROWS; refuses a file without rows at its end. */
async function* batched(records: AsyncIterable<ImportRecord>, empty: string): AsyncGenerator<ImportRecord[]> {
  let batch: ImportRecord[] = [];
  let any = false;
  for await (const record of records) {
    any = true;
    batch.push(record);
    if (batch.length >= BATCH_ROWS) {
      yield batch;
      batch = [];
    }
  }
  if (!any) throw new ImportFileError("EMPTY_FILE", empty);
  if (batch.length > 0) yield batch;
}

/**
 * The batches with the next one read ahead: while the start writes a batch into the ledger (the
 * database's work), the next is parsed (this process's), instead of one after the other. Measured:
 * the start of a 50,000-row CSV, 12 runs each on the shared machine (load 6-8), median 2.2 s
 * without, 1.85 s with (0.9-2.5 s against 1.6-3.4 s).
 */
export async function* readAhead<T>(source: AsyncIterator<T>): AsyncGenerator<T> {
  let next = source.next();
  try {
    for (;;) {
      const result = await next;
      if (result.done) return;
      next = source.next();
      // A failure of the read-ahead is thrown where it is awaited, on the next round.
      next.catch(() => {});
      yield result.value;
    }
  } finally {
    // A reader that stops early (a refused start) ends the source too, so it releases what it holds (a connection).
    await next.catch(() => {});
    await source.return?.();
  }
}

/** A file opened for import: its mapping is known, its rows come in batches (read once). */
export interface OpenedImport {
  columns: ImportParams["columns"];
  header: string[] | null;
  /** ImportFileError when a later part of the file turns out bad. */
  batches: AsyncGenerator<ImportRecord[]>;
}

/** csv-parse's syntax errors (an unbalanced quote...) as a refusal of the file. */
async function csvNext(rows: AsyncIterator<string[]>, source: Readable): Promise<IteratorResult<string[]>> {
  try {
    return await rows.next();
  } catch (error) {
    source.destroy();
    if (error instanceof CsvError) throw new ImportFileError("INVALID_FILE", `Not a valid CSV file: ${error.message}`);
    throw error;
  }
}

async function openCsv(bytes: AsyncIterable<Uint8Array>, options: ParseOptions): Promise<OpenedImport> {
  const source = Readable.from(utf8(bytes));
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true });
  source.on("error", (error) => parser.destroy(error));
  source.pipe(parser);
  const rows = (parser as AsyncIterable<string[]>)[Symbol.asyncIterator]();
  const first = await csvNext(rows, source);
  if (first.done) throw new ImportFileError("EMPTY_FILE", "The file is empty.");
  const header = first.value.map((name) => name.trim());
  const columns = resolveColumns(header, options, true);
  if (columns.title === undefined) {
    source.destroy();
    throw new ImportFileError(
      "MISSING_TITLE_COLUMN",
      `The header has no title column (it has: ${header.join(", ").slice(0, 200)}); map one with mapping.`,
    );
  }
  const counter = new RowCounter(options.maxRows);
  async function* records(): AsyncGenerator<ImportRecord> {
    for (let next = await csvNext(rows, source); !next.done; next = await csvNext(rows, source)) {
      const fields = next.value;
      yield fields.length === header.length
        ? counter.next(
          fields,
          columns.externalId === undefined ? undefined : externalIdOf(fields[columns.externalId as number]),
        )
        : counter.next(fields, undefined, {
          code: "INVALID_ROW",
          field: null,
          message: `The row has ${fields.length} columns; the header has ${header.length}.`,
        });
    }
  }
  return { columns, header, batches: readAhead(batched(records(), "The file has a header but no rows.")) };
}

function openJsonl(bytes: AsyncIterable<Uint8Array>, options: ParseOptions): OpenedImport {
  const columns = resolveColumns(
    [...new Set([...(options.mapping ?? []).map((m) => m.column), ...IMPORT_FIELDS])],
    options,
    false,
  );
  const counter = new RowCounter(options.maxRows);
  let line = 0;
  const take = (text: string): ImportRecord | null => {
    line++;
    if (text.trim() === "") return null;
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
    return counter.next(
      source,
      columns.externalId === undefined ? undefined : externalIdOf(source[columns.externalId as string]),
    );
  };
  async function* records(): AsyncGenerator<ImportRecord> {
    let pending = "";
    for await (const text of utf8(bytes)) {
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const l of lines) {
        const record = take(l.endsWith("\r") ? l.slice(0, -1) : l);
        if (record) yield record;
      }
    }
    const last = pending === "" ? null : take(pending);
    if (last) yield last;
  }
  return { columns, header: null, batches: readAhead(batched(records(), "The file is empty.")) };
}

/**
 * Opens an import file: the header (CSV) is read and the mapping resolved now, so a file refused
 * as a whole for those reasons is refused before anything starts; the rows follow as batches.
 */
export async function openImport(bytes: AsyncIterable<Uint8Array>, options: ParseOptions): Promise<OpenedImport> {
  return options.format === "CSV" ? await openCsv(bytes, options) : openJsonl(bytes, options);
}

/**
 * Inline rows (typed input): the same records, keyed by field name. A repeated externalId is
 * marked here, not by importKeys as for a file: the records themselves are the inline input's
 * part of the input hash (idempotency, previewToken), so they must be final before the start
 * hashes them; a map of at most INLINE_ROWS_MAX keys is cheap.
 */
export function inlineRecords(
  rows: readonly Partial<Record<ImportField, string | null>>[],
  maxRows: number,
): { records: ImportRecord[]; columns: ImportParams["columns"] } {
  const counter = new RowCounter(maxRows);
  const firstRowOf = new Map<string, number>();
  const records = rows.map((given) => {
    // A loop over the known fields (the input type's, in its order): Object.entries + filter + fromEntries per row
    // was 20 ms of the 10,000-row start's CPU profile.
    const source: Record<string, string> = {};
    for (const field of IMPORT_FIELDS) {
      const value = given[field];
      if (value !== null && value !== undefined) source[field] = value;
    }
    const record = counter.next(source, externalIdOf(source.externalId));
    if (record.externalId === undefined) return record;
    const first = firstRowOf.get(record.externalId);
    if (first === undefined) firstRowOf.set(record.externalId, record.row);
    else record.error = duplicateInFile(first);
    return record;
  });
  if (records.length === 0) throw new ImportFileError("EMPTY_FILE", "There are no rows.", ["input", "source", "rows"]);
  const columns = Object.fromEntries(IMPORT_FIELDS.map((f) => [f, f])) as ImportParams["columns"];
  return { records, columns };
}
