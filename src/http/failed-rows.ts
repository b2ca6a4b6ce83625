/**
 * GET /bulk-operations/{id}/failed-rows.csv | .jsonl: an import's FAILED rows as they were
 * given, plus an `error` column (CSV: the header repeated, then each row's fields; JSONL: each
 * row's object with an `error` key), so a user fixes them and imports that file again (the
 * `error` column maps to no field). In the import's format: the other extension is a 409 naming
 * the right one. Streamed a page at a time over the partial (operation_id, outcome, position)
 * index. Same auth and tenancy as the items download.
 */
import { stringify } from "csv-stringify/sync";
import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import type { ImportParams, ImportRecord } from "../imports/record.ts";
import { downloadOperation, error } from "./downloads.ts";

const PAGE_SIZE = 5000;
const ROUTE = /^\/bulk-operations\/([^/]+)\/failed-rows\.(csv|jsonl)$/;
/** The engine action the import runs (src/tickets/actions/import.ts). */
const IMPORT_ACTION = "IMPORT_TICKETS";

interface FailedRow {
  position: number;
  error_code: string | null;
  error_message: string | null;
  after: ImportRecord | null;
}

const errorText = (row: FailedRow) => `${row.error_code}: ${row.error_message ?? ""}`;

function csvLines(rows: FailedRow[], width: number): string {
  return stringify(rows.map((row) => {
    const fields = Array.isArray(row.after?.source) ? [...row.after.source] : [];
    while (fields.length < width) fields.push("");
    return [...fields, errorText(row)];
  }));
}

function jsonlLines(rows: FailedRow[]): string {
  return rows.map((row) => JSON.stringify({ ...(row.after?.source ?? {}), error: errorText(row) }) + "\n").join("");
}

export function failedRowsRoute(db: Db) {
  return async (request: Request, url: URL): Promise<Response | null> => {
    const match = ROUTE.exec(url.pathname);
    if (!match) return null;
    const operation = await downloadOperation(db, request, match[1]);
    if (operation instanceof Response) return operation;
    if (operation.action_type !== IMPORT_ACTION) return error(404, "This operation is not an import.");
    // A cast kept: action_params of an IMPORT_TICKETS operation is what its parseParams returned at start.
    const params = operation.action_params as ImportParams;
    const format = params.format === "CSV" ? "csv" : "jsonl";
    if (match[2] !== format) return error(409, `This import was ${params.format}: download failed-rows.${format}.`);
    const header = params.header;
    const encoder = new TextEncoder();
    let after = -1;
    let headerSent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { rows } = await sql<FailedRow>`SELECT position, error_code, error_message, after
          FROM bulk_operation_items WHERE operation_id = ${operation.id} AND outcome = 'FAILED' AND position > ${after}
          ORDER BY position LIMIT ${PAGE_SIZE}`.execute(db);
        let text = "";
        if (!headerSent && header) text += stringify([[...header, "error"]]);
        headerSent = true;
        text += format === "csv" ? csvLines(rows, header?.length ?? 0) : jsonlLines(rows);
        if (text) controller.enqueue(encoder.encode(text));
        if (rows.length < PAGE_SIZE) controller.close();
        else after = rows[rows.length - 1].position;
      },
    }, { highWaterMark: 1 });
    return new Response(body, {
      headers: {
        "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson",
        "content-disposition": `attachment; filename="import-${operation.id}-failed-rows.${format}"`,
      },
    });
  };
}
