/** SET_STATUS: moves tickets along the transition table (src/tickets/model.ts). */
import type { BulkAction } from "../../bulk/action.ts";
import { sql } from "kysely";
import { canTransition, TICKET_STATUS_ENUM, TICKET_STATUSES, type TicketStatus } from "../model.ts";
import { enumParam } from "./params.ts";
import { failWhen, noChangeWhen, ticketChangeLedger } from "./ticket-change.ts";

export const setStatus: BulkAction<{ status: TicketStatus }> = {
  type: "SET_STATUS",
  requiredRole: "AGENT",
  graphql: {
    input: { type: { fields: { status: { type: TICKET_STATUS_ENUM, required: true } } } },
    output: { fields: { status: { type: TICKET_STATUS_ENUM } } },
  },
  parseParams: (raw) => Promise.resolve({ status: enumParam(raw, "status", TICKET_STATUSES) }),
  ledgerSql: (chunk) => {
    const to = chunk.params.status;
    /** The transition table (model.ts) as the statuses that may go to `to`. */
    const allowedFrom = TICKET_STATUSES.filter((from) => canTransition(from, to));
    return ticketChangeLedger(chunk, { status: to }, [
      noChangeWhen(sql`t.status = ${to}`, sql`'Already ' || t.status || '.'`),
      failWhen(
        "INVALID_TRANSITION",
        sql`t.status <> ALL(${allowedFrom}::text[])`,
        sql`'A ticket cannot go from ' || t.status || ${` to ${to}.`}::text`,
      ),
    ]);
  },
};
