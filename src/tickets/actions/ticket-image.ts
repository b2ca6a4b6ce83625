/** The before/after image of a ticket in the bulk ledger: the fields bulk actions change. */
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
