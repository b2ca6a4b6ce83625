/** The tickets domain as the bulk engine sees it (src/bulk/action.ts BulkDomain). */
import { sql } from "kysely";
import { type BulkAction, defineDomain, type Tx } from "../../bulk/action.ts";
import { TICKET_ITEM_CODES, type TicketFilter } from "../model.ts";
import { ticketFilterWhere } from "../queries.ts";
import { addComment } from "./add-comment.ts";
import { assign } from "./assign.ts";
import { importTickets } from "./import.ts";
import { setCategory, setPriority } from "./set-enum-field.ts";
import { setStatus } from "./set-status.ts";
import { rollback } from "./rollback.ts";
import { restore, softDelete } from "./soft-delete.ts";

/** Adding an action: its file, and one line here. */
const actions = [
  setStatus,
  setPriority,
  setCategory,
  assign,
  addComment,
  softDelete,
  restore,
  importTickets,
] as BulkAction[];

export const ticketsDomain = defineDomain({
  module: { url: import.meta.url, name: "ticketsDomain" },
  target: { nodeType: "Ticket", noun: "tickets", keyPattern: /^[1-9]\d{0,17}$/ },
  itemCodes: TICKET_ITEM_CODES,
  actions,
  rollback,
  /**
   * INSERT INTO bulk_operation_items (operation_id, position, target_id)
   * SELECT $op, row_number() OVER (ORDER BY id DESC) - 1, id FROM tickets WHERE <filter> LIMIT $limit
   * Newest first, the order the tickets query shows.
   */
  async snapshotFilter(tx, { operationId, tenantId, filter, limit }) {
    const matching = matchingTickets(tx, tenantId, filter as TicketFilter, limit)
      .select(sql<string>`${operationId}::uuid`.as("operation_id"));
    const result = await tx.insertInto("bulk_operation_items")
      .columns(["operation_id", "position", "target_id"])
      .expression(
        tx.selectFrom(matching.as("m")).select([
          "m.operation_id",
          sql<number>`(row_number() OVER (ORDER BY m.id DESC) - 1)::int`.as("position"),
          "m.id",
        ]),
      ).executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n);
  },
  async matchFilter(tx, { tenantId, filter, limit }) {
    const rows = await matchingTickets(tx, tenantId, filter as TicketFilter, limit).execute();
    return rows.map((row) => String(row.id));
  },
});

/** SELECT id FROM tickets WHERE <filter> ORDER BY id DESC LIMIT $limit: the snapshot order. */
function matchingTickets(tx: Tx, tenantId: string, filter: TicketFilter, limit: number) {
  return tx.selectFrom("tickets").select("id").where(ticketFilterWhere(tenantId, filter))
    .orderBy("id", "desc").limit(limit);
}
