/** The before/after image of a ticket in the bulk ledger: the fields bulk actions change. */
import { type RawBuilder, sql } from "kysely";
import type { TicketRow } from "../model.ts";

export interface TicketImage {
  status: string;
  priority: string;
  category: string;
  assigneeId: string | null;
  deletedAt: string | null;
  version: number;
}

export function ticketImage(
  row: Pick<TicketRow, "status" | "priority" | "category" | "assignee_id" | "deleted_at" | "version">,
): TicketImage {
  return {
    status: row.status,
    priority: row.priority,
    category: row.category,
    assigneeId: row.assignee_id,
    deletedAt: row.deleted_at ? new Date(row.deleted_at).toISOString() : null,
    version: row.version,
  };
}

/**
 * The same image built by PostgreSQL from the tickets columns under `alias`, for the chunks that
 * decide in SQL (ticket-change.ts): the keys of ticketImage, and deletedAt in the format of
 * Date.toISOString() (UTC, milliseconds, "Z"), to the millisecond the driver's Date keeps (it
 * truncates the microseconds, as to_char's MS does), so a rollback comparing a stored image with
 * ticketImage() of the current row sees equal values.
 */
export function ticketImageSql(alias: string): RawBuilder<unknown> {
  const t = sql.id(alias);
  return sql`jsonb_build_object('status', ${t}.status, 'priority', ${t}.priority, 'category', ${t}.category,
    'assigneeId', ${t}.assignee_id,
    'deletedAt', to_char(${t}.deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'version', ${t}.version)`;
}
