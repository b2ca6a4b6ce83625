/**
 * EXPORT (kind EXPORT): renders the chunk's tickets, in input order, into the chunk's part
 * (ChunkContext.output; the engine commits it with the items, src/bulk/run-chunk.ts).
 * CSV, JSONL and JSON: ONE statement per chunk, whatever its size, in which PostgreSQL reads
 * the tickets (tenant-scoped, by key, with their comments when asked for) and renders the
 * part itself (src/exports/sql-render.ts; string_agg in input order): at 100,000 tickets the
 * chunks took 2.9-7.3 s at load averages of 6-11 where reading the rows into JavaScript and
 * rendering them with csv-stringify took 6.4 s at 0.5-3.4 (docs/performance.md, "Rendered in
 * PostgreSQL"). Markdown: one SELECT of the columns, one of the comments, rendered in
 * JavaScript (renderInJs, also what the SQL rendering is tested against). GZIP: the text is
 * compressed here, once (PostgreSQL has no gzip). A ticket that vanished since the start ends
 * FAILED NOT_FOUND and is not in the file; a soft-deleted one given by id is exported
 * (deletedAt says so).
 *
 * Timestamps are rendered by PostgreSQL (`to_json(ts) #>> '{}'`: ISO 8601 with the
 * microseconds a JS Date would drop), ids as text (bigint and uuid keys).
 */
import { sql } from "kysely";
import {
  ActionParamsError,
  type BulkAction,
  CHUNK_ITEMS,
  type ChunkItem,
  type ItemResult,
  type PartSql,
  type Tx,
} from "../../bulk/action.ts";
import {
  EXPORT_COMPRESSION_ENUM,
  EXPORT_COMPRESSIONS,
  EXPORT_FORMAT_ENUM,
  EXPORT_FORMATS,
  type ExportComment,
  type ExportParams,
  type ExportRecord,
} from "../../exports/format.ts";
import { encodePart } from "../../exports/parts.ts";
import { renderPart } from "../../exports/render.ts";
import { type SqlField, type SqlRecord, sqlRecord } from "../../exports/sql-render.ts";
import { TICKET_EXPORT_FIELDS, type TicketExportField } from "../model.ts";
import { enumParam } from "./params.ts";

/** Each field's SQL over `tickets t` (a fixed list: nothing from the client reaches the SQL text). */
const COLUMNS: Record<TicketExportField, string> = {
  id: "t.id::text",
  title: "t.title",
  body: "t.body",
  status: "t.status",
  priority: "t.priority",
  category: "t.category",
  assigneeId: "t.assignee_id::text",
  createdBy: "t.created_by::text",
  version: "t.version",
  createdAt: "to_json(t.created_at) #>> '{}'",
  updatedAt: "to_json(t.updated_at) #>> '{}'",
  deletedAt: "to_json(t.deleted_at) #>> '{}'",
};

const NUMBERS: ReadonlySet<TicketExportField> = new Set(["version"]);

/**
 * Text that can never need CSV quoting or the formula guard (sql-render.ts "plain"): the CHECK constraints
 * of migrations/0001 hold status, priority and category to upper-case words; ids are digits (bigint) or
 * hex and dashes starting with a hex digit (uuid); timestamps are ISO 8601 starting with a digit.
 */
const PLAIN: ReadonlySet<TicketExportField> = new Set([
  "id",
  "status",
  "priority",
  "category",
  "assigneeId",
  "createdBy",
  "createdAt",
  "updatedAt",
  "deletedAt",
]);

/**
 * A ticket's comments as one JSON array, oldest first, with the keys and values commentsOf
 * gives the JavaScript renderers (ticket_comments_ticket_idx).
 */
const COMMENTS_JSON = `SELECT '[' || coalesce(string_agg('{"authorId":' || to_json(c.author_id::text)::text ||
    ',"body":' || to_json(c.body)::text || ',"createdAt":' || to_json(c.created_at)::text || '}', ',' ORDER BY c.id),
    '') || ']'
  FROM ticket_comments c WHERE c.tenant_id = t.tenant_id AND c.ticket_id = t.id`;

function sqlFields(fields: readonly string[], includeComments: boolean): SqlField[] {
  const columns = fields.map((field): SqlField => ({
    name: field,
    sql: COLUMNS[field as TicketExportField],
    kind: NUMBERS.has(field as TicketExportField) ? "number" : PLAIN.has(field as TicketExportField) ? "plain" : "text",
  }));
  return includeComments ? [...columns, { name: "comments", sql: COMMENTS_JSON, kind: "json" }] : columns;
}

/**
 * The chunk's part rendered by PostgreSQL (src/exports/sql-render.ts) in ONE statement, and
 * which of its tickets exist: the keys come with their input position (WITH ORDINALITY), so
 * the part is in input order whatever plan reads the tickets. `t.id = ANY(ids)` besides the
 * join makes the tickets an index scan of the chunk's keys: with the join alone the planner
 * hashed every ticket of the tenant (a sequential scan of 40,000 rows to render 2,000:
 * 11.9 ms against 2.3 ms executing, EXPLAIN ANALYZE; at 1,000,000 tickets, per chunk).
 */
async function renderInSql(tx: Tx, tenantId: string, ids: string[], render: SqlRecord): Promise<RenderedPart> {
  const { rows } = await sql<{ body: string | null; found: string[] | null }>`
    SELECT string_agg(${sql.raw(render.record)}, ${sql.raw(render.separator)} ORDER BY k.ord) AS body,
      array_agg(t.id::text) AS found
    FROM unnest(${ids}::int8[]) WITH ORDINALITY AS k(id, ord)
    JOIN tickets t ON t.tenant_id = ${tenantId} AND t.id = k.id AND t.id = ANY(${ids}::int8[])`.execute(tx);
  return { body: rows[0]?.body ?? "", found: new Set(rows[0]?.found ?? []) };
}

const NOT_FOUND = { code: "NOT_FOUND", message: "No such ticket." } as const;

const notFound = (item: ChunkItem): ItemResult => ({ position: item.position, outcome: "FAILED", ...NOT_FOUND });

/**
 * The chunk's part as the engine's statement renders and INSERTs it (PartSql: with the job's deletion
 * and the compact ledger, src/bulk/queue/complete-runs.ts), so the part never crosses into the worker
 * thread: one row, the records of the tickets found in input order and the positions of the others.
 * The tickets are read by `t.id = ANY(the chunk's keys)` besides the join, for the reason renderInSql
 * gives. null (the chunk runs apply) for Markdown, rendered in JavaScript, and GZIP, which PostgreSQL
 * cannot write.
 */
function partSql(tenantId: string, params: ExportParams): PartSql | null {
  const render = params.compression === "NONE" &&
    sqlRecord(params.format, sqlFields(params.fields, params.includeComments));
  if (!render) return null;
  const items = sql.raw(CHUNK_ITEMS);
  return {
    ctes: [],
    select: sql`SELECT string_agg(${sql.raw(render.record)}, ${sql.raw(render.separator)} ORDER BY k.position)
        FILTER (WHERE t.id IS NOT NULL) AS part,
      array_agg(k.position) FILTER (WHERE t.id IS NULL) AS failed
    FROM ${items} AS k
    LEFT JOIN tickets t ON t.tenant_id = ${tenantId} AND t.id = k.target_id
      AND t.id = ANY(ARRAY(SELECT target_id FROM ${items}))`,
    failure: NOT_FOUND,
  };
}

const isField = (name: string): name is TicketExportField => (TICKET_EXPORT_FIELDS as readonly string[]).includes(name);

function fieldsParam(raw: unknown): TicketExportField[] {
  if (raw === undefined || raw === null) return [...TICKET_EXPORT_FIELDS];
  if (!Array.isArray(raw) || raw.some((f) => typeof f !== "string") || raw.length === 0) {
    throw new ActionParamsError("fields", "fields must be a non-empty list of field names (or left out for all).");
  }
  const unknown = raw.filter((f) => !isField(f));
  if (unknown.length > 0) {
    const named = unknown.slice(0, 10).map((f) => JSON.stringify(String(f).slice(0, 40))).join(", ");
    throw new ActionParamsError(
      "fields",
      `Unknown fields: ${named}${unknown.length > 10 ? ", ..." : ""}. Known: ${TICKET_EXPORT_FIELDS.join(", ")}.`,
    );
  }
  return [...new Set(raw as TicketExportField[])];
}

/** Checks and normalises an export's parameters (at start, before anything is written). */
function parseExportParams(raw: unknown): ExportParams {
  const value = (raw ?? {}) as Record<string, unknown>;
  const includeComments = value.includeComments ?? false;
  if (typeof includeComments !== "boolean") {
    throw new ActionParamsError("includeComments", "includeComments must be true or false.");
  }
  return {
    format: enumParam(value, "format", EXPORT_FORMATS),
    compression: value.compression === undefined ? "NONE" : enumParam(value, "compression", EXPORT_COMPRESSIONS),
    fields: fieldsParam(value.fields),
    includeComments,
  };
}

type Row = Record<string, string | number | null> & { key: string };

export const exportTickets: BulkAction<ExportParams> = {
  type: "EXPORT",
  kind: "EXPORT",
  requiredRole: "AGENT",
  // Started by startBulkExport (src/graphql/types/tickets-export.ts), not through BulkActionInput.
  graphql: {
    output: {
      fields: {
        format: { type: EXPORT_FORMAT_ENUM },
        compression: { type: EXPORT_COMPRESSION_ENUM },
        fields: {
          type: { list: "String", maxItems: TICKET_EXPORT_FIELDS.length },
          description: "The exported fields, in file order.",
        },
        includeComments: { type: "Boolean" },
      },
    },
  },
  parseParams: (raw) => Promise.resolve(parseExportParams(raw)),
  chunkSize: (limits) => limits.exportChunkSize ?? limits.chunkSize,
  // Every exported ticket ends a plain SUCCEEDED: one ledger row per chunk, not one per ticket.
  compactLedger: true,
  partSql: (context) => partSql(context.tenantId, context.params),
  async apply(chunk) {
    const ids = chunk.items.map((item) => item.targetId);
    const { body, found } = await renderedPart(chunk.tx, chunk.tenantId, chunk.params, ids);
    if (!chunk.dryRun) chunk.output!.push(encodePart(chunk.params.compression, body));
    return chunk.items.map((item): ItemResult =>
      found.has(item.targetId) ? { position: item.position, outcome: "SUCCEEDED" } : notFound(item)
    );
  },
};

/** A chunk's part (uncompressed) and which of its tickets exist. */
export interface RenderedPart {
  body: string;
  found: Set<string>;
}

/** The part of the tickets `ids`, in their order: rendered by PostgreSQL unless the format is Markdown. */
export function renderedPart(tx: Tx, tenantId: string, params: ExportParams, ids: string[]): Promise<RenderedPart> {
  const render = sqlRecord(params.format, sqlFields(params.fields, params.includeComments));
  return render ? renderInSql(tx, tenantId, ids, render) : renderInJs(tx, tenantId, params, ids);
}

/**
 * The part rendered in JavaScript (src/exports/render.ts) from one SELECT of the tickets' columns and
 * one of their comments: Markdown's path, and what tests/export_sql_render_test.ts holds the SQL
 * rendering to for the other formats.
 */
export async function renderInJs(tx: Tx, tenantId: string, params: ExportParams, ids: string[]): Promise<RenderedPart> {
  const { fields, includeComments } = params;
  const columns = sql.raw(fields.map((field) => `${COLUMNS[field as TicketExportField]} AS "${field}"`).join(", "));
  const { rows } = await sql<Row>`SELECT t.id::text AS key, ${columns} FROM tickets t
    WHERE t.tenant_id = ${tenantId} AND t.id = ANY(${ids}::int8[])`.execute(tx);
  const byId = new Map(rows.map((row) => [row.key, row]));
  const comments = includeComments ? await commentsOf(tx, tenantId, ids) : null;
  const records: ExportRecord[] = [];
  for (const id of ids) {
    const row = byId.get(id);
    if (!row) continue;
    const values = Object.fromEntries(fields.map((field) => [field, row[field]]));
    records.push(comments ? { values, comments: comments.get(id) ?? [] } : { values });
  }
  return { body: renderPart(params, records), found: new Set(byId.keys()) };
}

/** The comments of the chunk's tickets by ticket id, oldest first, in one SELECT. */
async function commentsOf(
  tx: Tx,
  tenantId: string,
  ids: string[],
): Promise<Map<string, ExportComment[]>> {
  const { rows } = await sql<ExportComment & { ticket: string }>`
    SELECT ticket_id::text AS ticket, author_id::text AS "authorId", body, to_json(created_at) #>> '{}' AS "createdAt"
    FROM ticket_comments WHERE tenant_id = ${tenantId} AND ticket_id = ANY(${ids}::int8[]) ORDER BY ticket_id, id`
    .execute(tx);
  const byTicket = new Map<string, ExportComment[]>();
  for (const { ticket, ...comment } of rows) {
    const list = byTicket.get(ticket) ?? byTicket.set(ticket, []).get(ticket)!;
    list.push(comment);
  }
  return byTicket;
}
