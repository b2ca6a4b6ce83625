/** The tickets domain as the bulk engine sees it (src/bulk/action.ts BulkDomain). */
import { type BulkAction, defineDomain, type Tx } from "../../bulk/action.ts";
import { TICKET_ITEM_CODES, type TicketFilter } from "../model.ts";
import { ticketFilterWhere } from "../queries.ts";
import { addComment } from "./add-comment.ts";
import { assign } from "./assign.ts";
import { exportTickets } from "./export.ts";
import { importTickets } from "./import.ts";
import { setCategory, setPriority } from "./set-enum-field.ts";
import { setStatus } from "./set-status.ts";
import { purgeTickets } from "./purge.ts";
import { rollback } from "./rollback.ts";
import { restore, softDelete } from "./soft-delete.ts";

/**
 * Adding an action: its file, and one line here. A cast kept: each action is a BulkAction of its own
 * parameters, and apply / ledgerSql take them (a contravariant position), so no BulkAction<P> is a
 * BulkAction<unknown>; the engine gives each action only what its own parseParams returned.
 */
const actions = [
  setStatus,
  setPriority,
  setCategory,
  assign,
  addComment,
  softDelete,
  restore,
  purgeTickets,
  exportTickets,
  importTickets,
] as BulkAction[];

export const ticketsDomain = defineDomain({
  module: { url: import.meta.url, name: "ticketsDomain" },
  target: { nodeType: "Ticket", noun: "tickets", keyPattern: /^[1-9]\d{0,17}$/ },
  itemCodes: TICKET_ITEM_CODES,
  actions,
  rollback,
  /**
   * Newest first, the order the tickets query shows. A cast kept: the engine hands back the filter this
   * domain made (toTicketFilter, the CLI's and the console's through the same GraphQL input), frozen as is.
   */
  filterTargets: (tx, { tenantId, filter, limit }) => matchingTickets(tx, tenantId, filter as TicketFilter, limit),
});

/** SELECT id FROM tickets WHERE <filter> ORDER BY id DESC LIMIT $limit: the snapshot order. */
function matchingTickets(tx: Tx, tenantId: string, filter: TicketFilter, limit: number) {
  return tx.selectFrom("tickets").select("id").where(ticketFilterWhere(tenantId, filter))
    .orderBy("id", "desc").limit(limit);
}
