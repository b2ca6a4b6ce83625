/**
 * EXPORT (kind EXPORT): renders the chunk's tickets, in input order, into the chunk's part
 * (ChunkContext.output; the engine commits it with the items, src/bulk/run-chunk.ts). Per
 * chunk, whatever its size: one SELECT of the tickets' exported columns (tenant-scoped,
 * `id = ANY($ids)`), one SELECT of their comments when asked for (ticket_comments_ticket_idx),
 * then the rendering and (GZIP) one compression in memory. A ticket that vanished since the
 * start ends FAILED NOT_FOUND and is not in the file; a soft-deleted one given by id is
 * exported (deletedAt says so).
 *
 * Timestamps are rendered by PostgreSQL (`to_json(ts) #>> '{}'`: ISO 8601 with the
 * microseconds a JS Date would drop), ids as text (bigint and uuid keys).
 */
import { sql } from "kysely";
import { ActionParamsError, type BulkAction, type ItemResult, type Tx } from "../../bulk/action.ts";
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
  // Started by startBulkExport (src/graphql/types/bulk-export.ts), not through BulkActionInput.
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
  async apply(chunk) {
    const { fields, includeComments, compression } = chunk.params;
    const ids = chunk.items.map((item) => item.targetId);
    const columns = sql.raw(fields.map((field) => `${COLUMNS[field as TicketExportField]} AS "${field}"`).join(", "));
    const { rows } = await sql<Row>`SELECT t.id::text AS key, ${columns} FROM tickets t
      WHERE t.tenant_id = ${chunk.tenantId} AND t.id = ANY(${ids}::int8[])`.execute(chunk.tx);
    const byId = new Map(rows.map((row) => [row.key, row]));
    const comments = includeComments ? await commentsOf(chunk.tx, chunk.tenantId, ids) : null;
    const records: ExportRecord[] = [];
    const results = chunk.items.map((item): ItemResult => {
      const row = byId.get(item.targetId);
      if (!row) return { position: item.position, outcome: "FAILED", code: "NOT_FOUND", message: "No such ticket." };
      const values = Object.fromEntries(fields.map((field) => [field, row[field]]));
      records.push(comments ? { values, comments: comments.get(item.targetId) ?? [] } : { values });
      return { position: item.position, outcome: "SUCCEEDED" };
    });
    if (!chunk.dryRun) chunk.output!.push(encodePart(compression, renderPart(chunk.params, records)));
    return results;
  },
};

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
