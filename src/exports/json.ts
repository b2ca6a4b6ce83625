/**
 * JSONL and JSON parts. JSONL: one object per line. JSON: the file is one array; a part is
 * its chunk's elements joined by ",\n" and the framing puts ",\n" between two parts, so the
 * array is streamed part by part and never built whole.
 */
import type { ExportRecord, Framing } from "./format.ts";

function objectOf(record: ExportRecord, includeComments: boolean): string {
  return JSON.stringify(includeComments ? { ...record.values, comments: record.comments ?? [] } : record.values);
}

export const jsonlFraming: Framing = { prefix: "", separator: "", suffix: "" };

export function jsonlPart(records: ExportRecord[], includeComments: boolean): string {
  return records.map((record) => objectOf(record, includeComments) + "\n").join("");
}

export const jsonFraming: Framing = { prefix: "[\n", separator: ",\n", suffix: "\n]\n" };

export function jsonPart(records: ExportRecord[], includeComments: boolean): string {
  return records.map((record) => objectOf(record, includeComments)).join(",\n");
}
