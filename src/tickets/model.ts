/** The ticket domain's vocabulary: enums, the status transition table and input limits. */
import type { Selectable } from "kysely";
import type { EnumDescriptor } from "../bulk/action-schema.ts";
import type { TicketsTable } from "../db/tables.ts";
import { isOneOf } from "../guards.ts";

export const TICKET_STATUSES = ["OPEN", "PENDING", "RESOLVED", "CLOSED"] as const;
export const TICKET_PRIORITIES = ["LOW", "NORMAL", "HIGH", "URGENT"] as const;
export const TICKET_CATEGORIES = ["GENERAL", "BILLING", "TECHNICAL", "ACCOUNT", "FEATURE_REQUEST"] as const;

/** The GraphQL enums of these values (the ticket types and the bulk actions share them). */
export const TICKET_STATUS_ENUM: EnumDescriptor<TicketStatus> = {
  enum: "TicketStatus",
  values: TICKET_STATUSES,
  description: "OPEN -> PENDING -> RESOLVED -> CLOSED, with OPEN <-> PENDING and reopening from RESOLVED or CLOSED.",
};
export const TICKET_PRIORITY_ENUM: EnumDescriptor<TicketPriority> = {
  enum: "TicketPriority",
  values: TICKET_PRIORITIES,
};
export const TICKET_CATEGORY_ENUM: EnumDescriptor<TicketCategory> = {
  enum: "TicketCategory",
  values: TICKET_CATEGORIES,
};

export type TicketStatus = typeof TICKET_STATUSES[number];
export type TicketPriority = typeof TICKET_PRIORITIES[number];
export type TicketCategory = typeof TICKET_CATEGORIES[number];

/**
 * Allowed status changes. A ticket is worked (OPEN <-> PENDING), resolved, then closed;
 * RESOLVED and CLOSED can be reopened. Closing skips no step: OPEN -> CLOSED is refused.
 */
export const STATUS_TRANSITIONS: Readonly<Record<TicketStatus, readonly TicketStatus[]>> = {
  OPEN: ["PENDING", "RESOLVED"],
  PENDING: ["OPEN", "RESOLVED"],
  RESOLVED: ["OPEN", "CLOSED"],
  CLOSED: ["OPEN"],
};

export function canTransition(from: string, to: string): boolean {
  return isOneOf(TICKET_STATUSES, from) && isOneOf(TICKET_STATUSES, to) && STATUS_TRANSITIONS[from].includes(to);
}

export const LIMITS = {
  titleMax: 200,
  bodyMax: 10_000,
  commentMax: 10_000,
  searchMax: 200,
} as const;

/** A tickets row as Kysely selects it: what the API and bulk before/after images expose. */
export type TicketRow = Selectable<TicketsTable>;

/**
 * The fields a bulk export can write (src/tickets/actions/export.ts), named as the GraphQL
 * Ticket type names them, in the default output order (every field). Ids are the plain
 * database keys (ticket number, user uuids), which is what a spreadsheet or a join needs.
 */
export const TICKET_EXPORT_FIELDS = [
  "id",
  "title",
  "body",
  "status",
  "priority",
  "category",
  "assigneeId",
  "createdBy",
  "version",
  "createdAt",
  "updatedAt",
  "deletedAt",
] as const;
export type TicketExportField = typeof TICKET_EXPORT_FIELDS[number];

/** Filter over a tenant's tickets, shared by the tickets query and bulk filter targets. */
/** The per-item codes the ticket bulk actions write (actions/ticket-change.ts, actions/rollback.ts). */
export const TICKET_ITEM_CODES = [
  "NOT_FOUND",
  "DELETED",
  "INVALID_TRANSITION",
  "FORBIDDEN",
  "NO_CHANGE",
  "CONFLICT",
  // Imports (actions/import.ts, src/imports/parse.ts).
  "INVALID_FIELD",
  "TOO_LONG",
  "UNKNOWN_ASSIGNEE",
  "DUPLICATE_IN_FILE",
  "INVALID_ROW",
  "ALREADY_EXISTS",
] as const;
export type TicketItemCode = typeof TICKET_ITEM_CODES[number];

export interface TicketFilter {
  status?: TicketStatus[];
  priority?: TicketPriority[];
  category?: TicketCategory[];
  /** Tickets assigned to this user (uuid). */
  assigneeId?: string;
  /** Only tickets with no assignee. */
  unassigned?: boolean;
  /** Case-insensitive substring of the title (trigram index). */
  titleContains?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  /** Soft-deleted tickets are left out unless this is true. */
  includeDeleted?: boolean;
}
