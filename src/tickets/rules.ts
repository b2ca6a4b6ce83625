/**
 * The ticket rules every write path applies: the bulk actions (src/tickets/actions/) and the single-ticket
 * mutations (queries.ts updateTicket / addComment, the GraphQL assignee check) call these, so the two paths
 * cannot drift apart. Each returns the refusal message, or null when the change is allowed.
 */
import type { Role } from "../db/tables.ts";

/**
 * Closed tickets are read-only except for reopening: a change that moves the status is judged by the
 * transition table (CLOSED -> OPEN only); any other change to a CLOSED ticket (fields, assignee, a comment)
 * is refused.
 */
export function closedRefusal(currentStatus: string, changesStatus: boolean): string | null {
  return currentStatus === "CLOSED" && !changesStatus ? "Closed tickets are read-only; reopen the ticket first." : null;
}

/** Tickets are assigned to people who work them: ADMINs and AGENTs, never VIEWERs. */
export function assigneeRefusal(role: Role): string | null {
  return role === "VIEWER" ? "Viewers cannot be assigned tickets." : null;
}
