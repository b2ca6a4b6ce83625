/**
 * CSV, JSONL and JSON parts rendered by PostgreSQL: the SQL expression of one record, given
 * each field's SQL, so a chunk's part is one `string_agg(<record>, <separator> ORDER BY <input
 * order>)` next to the rows it reads, and no row is turned into JavaScript values and back to
 * text. Byte for byte what csv.ts / json.ts render from the same values (tests/export_test.ts
 * compares the downloads with the database; tests/export_sql_render_test.ts compares the two
 * renderings on hostile values):
 * - CSV: `csv_cell(text)` (migrations/0016: NULL empty, formula cells neutralised, RFC 4180
 *   quoting) per text cell, numbers as they print, cells joined by commas, CRLF per record.
 * - JSON objects: the keys in field order, each value `to_json(value)::text` (PostgreSQL
 *   escapes exactly the characters JSON.stringify escapes: `"`, `\`, and U+0000-U+001F, the
 *   latter as \b \f \n \r \t or lowercase \u00XX), NULL as null, no spaces, as JSON.stringify.
 * Markdown stays in JavaScript (markdown.ts): it is not the measured format, and its
 * one-line headings are a regex replace per value.
 * Measured (docs/performance.md, "Rendered in PostgreSQL"): the action's statement renders
 * 2,000 tickets in 2.3 ms of server time (EXPLAIN ANALYZE) where the SELECT + csv-stringify
 * path took 24-58 ms of a chunk; a 100,000-ticket export's chunks took 2.9-7.3 s at load
 * averages of 6-11 where they took 6.4 s before at 0.5-3.4.
 */
import type { ExportFormat } from "./format.ts";

/**
 * One exported field: its name (a key of a fixed list, never client text) and its SQL, read
 * as text, as plain text (text that by the schema's constraints can never need quoting or
 * neutralising in CSV, e.g. enum values, ids, timestamps: written as is, a string in JSON), as
 * a number (printed as is: never neutralised or quoted), or as JSON text (a nested value, e.g. a
 * ticket's comments: a JSON value in JSON, one text cell in CSV). csv_cell's checks were about
 * half of a 20,000-ticket part's server time with all nine text columns through it (EXPLAIN
 * ANALYZE, min of 5: 253-301 ms; 116-155 ms with only title and body; docs/performance.md,
 * "Session 4: export").
 */
export interface SqlField {
  name: string;
  sql: string;
  kind: "text" | "plain" | "number" | "json";
}

/** A record's expression and what joins two records of a part (json.ts / csv.ts framing). */
export interface SqlRecord {
  record: string;
  separator: string;
}

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

function csvCell(field: SqlField): string {
  switch (field.kind) {
    case "number":
      return `coalesce((${field.sql})::text, '')`;
    case "plain":
      return `coalesce((${field.sql}), '')`;
    default:
      return `csv_cell((${field.sql}))`;
  }
}

function jsonValue(field: SqlField): string {
  return field.kind === "json" ? `(${field.sql})` : `coalesce(to_json((${field.sql}))::text, 'null')`;
}

function jsonObject(fields: SqlField[]): string {
  const members = fields.map((field, i) =>
    `${literal(`${i === 0 ? "{" : ","}${JSON.stringify(field.name)}:`)} || ${jsonValue(field)}`
  );
  return `${members.join(" || ")} || '}'`;
}

/** The record expression for `format`, or null for a format rendered in JavaScript (Markdown). */
export function sqlRecord(format: ExportFormat, fields: SqlField[]): SqlRecord | null {
  switch (format) {
    case "CSV":
      return { record: `${fields.map(csvCell).join(" || ',' || ")} || E'\\r\\n'`, separator: "''" };
    case "JSONL":
      return { record: `${jsonObject(fields)} || E'\\n'`, separator: "''" };
    case "JSON":
      return { record: jsonObject(fields), separator: "E',\\n'" };
    case "MARKDOWN":
      return null;
  }
}
