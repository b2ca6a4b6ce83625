/**
 * CSV parts: RFC 4180 through npm csv-stringify (CRLF records, fields quoted when they hold
 * a comma, a quote or a line break), one header row in the file's prefix.
 *
 * Formula injection: a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a
 * formula (`=HYPERLINK(...)` in a ticket title sends data elsewhere when the file is opened),
 * and a leading tab or CR hides such a start from naive checks. Every text cell that starts
 * with one of these six characters is prefixed with a single quote (OWASP's "CSV Injection"
 * advice): spreadsheets show the text as typed, and the quote marks the cell as changed.
 * Numbers (id, version) are left alone; they never start with a sign here.
 */
import { stringify } from "csv-stringify/sync";
import type { ExportRecord, Framing } from "./format.ts";

const FORMULA_START = /^[=+\-@\t\r]/;

/** The text a spreadsheet shows for `value` without evaluating it. */
export function neutralised(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/**
 * csv-stringify quotes a field holding the record delimiter, but with CRLF records it leaves
 * a lone "\n" or "\r" unquoted (checked with 6.9.0), which RFC 4180 readers split on.
 */
const OPTIONS = { record_delimiter: "windows", quoted_match: /[\r\n]/ } as const;

const cell = (value: string | number | null) => typeof value === "string" ? neutralised(value) : value;

function header(fields: string[], includeComments: boolean): string[] {
  return includeComments ? [...fields, "comments"] : fields;
}

export function csvFraming(fields: string[], includeComments: boolean): Framing {
  return { prefix: stringify([header(fields, includeComments)], OPTIONS), separator: "", suffix: "" };
}

/** One chunk's records; comments (when asked for) are one JSON cell. */
export function csvPart(records: ExportRecord[], fields: string[], includeComments: boolean): string {
  if (records.length === 0) return "";
  return stringify(
    records.map((record) => {
      const row = fields.map((field) => cell(record.values[field]));
      if (includeComments) row.push(neutralised(JSON.stringify(record.comments ?? [])));
      return row;
    }),
    OPTIONS,
  );
}
