/**
 * GET /bulk-operations/{id}/items.jsonl | items.csv: an operation's whole item ledger,
 * streamed in constant memory: pages of PAGE_SIZE rows are read only as fast as the client
 * consumes them (a pull-based ReadableStream).
 *
 * Pages are closed position ranges [from, from + PAGE_SIZE), not "position > last LIMIT n":
 * positions are dense (0 .. total - 1), and a bounded range reads PAGE_SIZE rows whatever
 * plan PostgreSQL picks. With an open range, statistics that predate a new operation's items
 * (autovacuum has not analysed them yet) make it pick a bitmap scan + sort that reads every
 * remaining item for each page: quadratic over a million-item download.
 * Same bearer auth as /graphql; another tenant's operation is a 404 like a missing one.
 * `?outcome=FAILED` (or any outcomes, comma-separated) keeps only those items, e.g. the console's
 * "failed rows": still the same position ranges, filtered within each.
 */
import { bearerToken, type Viewer, viewerForToken } from "../auth/tokens.ts";
import type { BulkDomain } from "../bulk/action.ts";
import { type ItemRow, listItems } from "../bulk/history.ts";
import { findOperation, type OperationRow } from "../bulk/operation.ts";
import type { Db } from "../db/database.ts";
import { LEDGER_OUTCOMES } from "../db/tables.ts";
import { encodeId, expectId, UUID_PATTERN } from "../graphql/ids.ts";

const PAGE_SIZE = 5000;
const ROUTE = /^\/bulk-operations\/([^/]+)\/items\.(jsonl|csv)$/;
const CSV_COLUMNS = [
  "position",
  "targetId",
  "outcome",
  "errorCode",
  "errorMessage",
  "before",
  "after",
  "attempts",
  "processedAt",
] as const satisfies readonly (keyof ReturnType<typeof record>)[];

/** The operation's uuid from a raw uuid or a BulkOperation global id; null when malformed. */
function operationKey(raw: string): string | null {
  try {
    const value = decodeURIComponent(raw);
    return UUID_PATTERN.test(value) ? value : expectId(value, "BulkOperation");
  } catch {
    return null; // a bad percent-encoding or a malformed id reads as a missing operation (404)
  }
}

function record(item: ItemRow, nodeType: string) {
  return {
    position: item.position,
    targetId: encodeId(nodeType, item.target_id),
    outcome: item.outcome,
    errorCode: item.error_code,
    errorMessage: item.error_message,
    before: item.before ?? null,
    after: item.after ?? null,
    attempts: item.attempts,
    processedAt: item.processed_at ? new Date(item.processed_at).toISOString() : null,
  };
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The page of items after position `after` (-1: from the start), PENDING ones included, only
 * `outcomes` when given (one page of listItems: a range scan of the primary key, or of the
 * outcome index when filtered).
 */
async function itemPage(
  db: Db,
  operationId: string,
  after: number,
  outcomes: readonly string[] | null,
): Promise<ItemRow[]> {
  return await listItems(db, operationId, outcomes ? { outcome: [...outcomes] } : {}, {
    limit: PAGE_SIZE,
    direction: "forward",
    seek: after >= 0 ? [after] : undefined,
  });
}

/** `?outcome=FAILED,SKIPPED` -> the outcomes; null without the parameter; an Error naming a bad value. */
function outcomesOf(url: URL): readonly string[] | null | Error {
  const raw = url.searchParams.get("outcome");
  if (raw === null) return null;
  const outcomes = raw.split(",");
  const known: readonly string[] = LEDGER_OUTCOMES;
  const bad = outcomes.find((outcome) => !known.includes(outcome));
  return bad === undefined ? outcomes : new Error(`Unknown outcome "${bad}": use ${LEDGER_OUTCOMES.join(", ")}.`);
}

/** A JSON error answer; `code` (when given) is the typed reason clients switch on. */
export const error = (status: number, message: string, code?: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(code ? { error: message, code } : { error: message }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

/** The viewer of a route's bearer token, or the 401 to answer. */
export async function routeViewer(db: Db, request: Request): Promise<Viewer | Response> {
  const token = bearerToken(request.headers.get("authorization"));
  const viewer = token ? await viewerForToken(db, token) : null;
  return viewer ?? error(401, "A valid API token is required: send Authorization: Bearer <token>.");
}

/** The operation a GET download names (`rawId`), of the bearer token's tenant; or the error to answer. */
export async function downloadOperation(db: Db, request: Request, rawId: string): Promise<OperationRow | Response> {
  if (request.method !== "GET") return error(405, "Use GET.");
  const viewer = await routeViewer(db, request);
  if (viewer instanceof Response) return viewer;
  const id = operationKey(rawId);
  const operation = id ? await findOperation(db, viewer.tenantId, id) : undefined;
  return operation ?? error(404, "No bulk operation with this id.");
}

export function downloadsRoute(db: Db, domain: BulkDomain) {
  return async (request: Request, url: URL): Promise<Response | null> => {
    const match = ROUTE.exec(url.pathname);
    if (!match) return null;
    const outcomes = outcomesOf(url);
    if (outcomes instanceof Error) return error(400, outcomes.message);
    const operation = await downloadOperation(db, request, match[1]);
    if (operation instanceof Response) return operation;
    const format = match[2];
    const encoder = new TextEncoder();
    let after = -1;
    let headerSent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const lines: string[] = [];
        if (format === "csv" && !headerSent) lines.push(CSV_COLUMNS.join(","));
        headerSent = true;
        const page = await itemPage(db, operation.id, after, outcomes);
        after = page.at(-1)?.position ?? after;
        for (const item of page) {
          const row = record(item, domain.target.nodeType);
          lines.push(
            format === "jsonl" ? JSON.stringify(row) : CSV_COLUMNS.map((c) => csvCell(row[c])).join(","),
          );
        }
        if (lines.length > 0) controller.enqueue(encoder.encode(lines.join("\n") + "\n"));
        if (page.length < PAGE_SIZE || after >= operation.total - 1) controller.close();
      },
    }, { highWaterMark: 1 });
    const type = format === "jsonl" ? "application/x-ndjson" : "text/csv; charset=utf-8";
    return new Response(body, {
      headers: {
        "content-type": type,
        "content-disposition": `attachment; filename="bulk-operation-${operation.id}-${
          outcomes ? outcomes.join("-").toLowerCase() : "items"
        }.${format}"`,
      },
    });
  };
}
