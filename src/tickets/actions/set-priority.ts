/** SET_PRIORITY. Closed tickets are read-only (FORBIDDEN). */
import type { BulkAction } from "../../bulk/action.ts";
import { TICKET_PRIORITIES, type TicketPriority } from "../model.ts";
import { enumParam } from "./params.ts";
import { applyTicketChange, closedIsReadOnly, noChange } from "./ticket-change.ts";

export const setPriority: BulkAction<{ priority: TicketPriority }> = {
  type: "SET_PRIORITY",
  requiredRole: "AGENT",
  parseParams: (raw) => Promise.resolve({ priority: enumParam(raw, "priority", TICKET_PRIORITIES) }),
  apply: (chunk) =>
    applyTicketChange(chunk, { priority: chunk.params.priority }, (ticket) =>
      closedIsReadOnly(ticket) ??
        (ticket.priority === chunk.params.priority ? noChange(`Already ${ticket.priority}.`) : { change: true })),
};
