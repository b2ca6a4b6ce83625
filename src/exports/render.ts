/** An export's renderer by format: what each chunk writes as its part, and the file's framing. */
import { csvFraming, csvPart } from "./csv.ts";
import type { ExportParams, ExportRecord, Framing } from "./format.ts";
import { jsonFraming, jsonlFraming, jsonlPart, jsonPart } from "./json.ts";
import { markdownFraming, markdownPart } from "./markdown.ts";

export function renderPart(params: ExportParams, records: ExportRecord[]): string {
  switch (params.format) {
    case "CSV":
      return csvPart(records, params.fields, params.includeComments);
    case "JSONL":
      return jsonlPart(records, params.includeComments);
    case "JSON":
      return jsonPart(records, params.includeComments);
    case "MARKDOWN":
      return markdownPart(records, params.fields, params.includeComments);
  }
}

export function framingOf(params: ExportParams, noun: string): Framing {
  switch (params.format) {
    case "CSV":
      return csvFraming(params.fields, params.includeComments);
    case "JSONL":
      return jsonlFraming;
    case "JSON":
      return jsonFraming;
    case "MARKDOWN":
      return markdownFraming(noun);
  }
}
