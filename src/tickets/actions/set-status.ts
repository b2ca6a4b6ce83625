/** SET_STATUS: moves tickets along the transition table (src/tickets/model.ts). */
import type { BulkAction } from "../../bulk/action.ts";
import { canTransition, TICKET_STATUS_ENUM, TICKET_STATUSES, type TicketStatus } from "../model.ts";
import { enumParam } from "./params.ts";
import { applyTicketChange, fail, noChange } from "./ticket-change.ts";

export const setStatus: BulkAction<{ status: TicketStatus }> = {
  type: "SET_STATUS",
  requiredRole: "AGENT",
  graphql: {
    input: { type: { fields: { status: { type: TICKET_STATUS_ENUM, required: true } } } },
    output: { fields: { status: { type: TICKET_STATUS_ENUM } } },
  },
  parseParams: (raw) => Promise.resolve({ status: enumParam(raw, "status", TICKET_STATUSES) }),
  apply: (chunk) =>
    applyTicketChange(chunk, { status: chunk.params.status }, (ticket) => {
      if (ticket.status === chunk.params.status) return noChange(`Already ${ticket.status}.`);
      if (!canTransition(ticket.status, chunk.params.status)) {
        return fail("INVALID_TRANSITION", `A ticket cannot go from ${ticket.status} to ${chunk.params.status}.`);
      }
      return { change: true };
    }),
};
