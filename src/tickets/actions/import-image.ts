/**
 * The ledger images of imported tickets: every field an import can set (title and body
 * included, unlike ticket-image.ts, which holds what the change actions touch), so a rollback
 * can restore an updated ticket and tell whether a created one was changed since.
 */
import { sql } from "kysely";
import type { Tx } from "../../bulk/action.ts";
import type { TicketRow } from "../model.ts";

export interface ImportImage {
  title: string;
  body: string;
  status: string;
  priority: string;
  category: string;
  assigneeId: string | null;
  externalId: string | null;
  deletedAt: string | null;
  version: number;
}

/** The ticket columns an import reads and writes. */
export type ImportedRow = Pick<
  TicketRow,
  | "id"
  | "title"
  | "body"
  | "status"
  | "priority"
  | "category"
  | "assignee_id"
  | "external_id"
  | "deleted_at"
  | "version"
>;

export const IMPORTED_COLUMNS = sql`id, title, body, status, priority, category, assignee_id, external_id, deleted_at,
  version`;

export function importImage(row: ImportedRow): ImportImage {
  return {
    title: row.title,
    body: row.body,
    status: row.status,
    priority: row.priority,
    category: row.category,
    assigneeId: row.assignee_id,
    externalId: row.external_id,
    deletedAt: row.deleted_at ? new Date(row.deleted_at).toISOString() : null,
    version: row.version,
  };
}

/** The fields an import sets (the version and deletedAt follow from them). */
export const IMPORTED_FIELDS = ["title", "body", "status", "priority", "category", "assigneeId", "externalId"] as const;

/** The tenant's tickets with these ids, row-locked in id order (a dry run reads without locking). */
export async function lockImported(
  tx: Tx,
  tenantId: string,
  ids: string[],
  dryRun: boolean,
): Promise<Map<string, ImportedRow>> {
  const { rows } = await sql<ImportedRow>`SELECT ${IMPORTED_COLUMNS} FROM tickets
    WHERE tenant_id = ${tenantId} AND id = ANY(${ids}::bigint[]) ORDER BY id ${dryRun ? sql`` : sql`FOR UPDATE`}`
    .execute(tx);
  return new Map(rows.map((row) => [String(row.id), row]));
}
