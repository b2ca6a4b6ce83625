/** SET_CATEGORY. Closed tickets are read-only (FORBIDDEN). */
import type { BulkAction } from "../../bulk/action.ts";
import { TICKET_CATEGORIES, type TicketCategory } from "../model.ts";
import { enumParam } from "./params.ts";
import { applyTicketChange, closedIsReadOnly, noChange } from "./ticket-change.ts";

export const setCategory: BulkAction<{ category: TicketCategory }> = {
  type: "SET_CATEGORY",
  requiredRole: "AGENT",
  parseParams: (raw) => Promise.resolve({ category: enumParam(raw, "category", TICKET_CATEGORIES) }),
  apply: (chunk) =>
    applyTicketChange(chunk, { category: chunk.params.category }, (ticket) =>
      closedIsReadOnly(ticket) ??
        (ticket.category === chunk.params.category ? noChange(`Already ${ticket.category}.`) : { change: true })),
};
