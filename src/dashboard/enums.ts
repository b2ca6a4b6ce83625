/**
 * The schema's enum values at run time. The generated types are string unions (codegen `enumsAsTypes`); each list
 * here is written as a Record over its union, so a value added to the schema fails `deno check` until it is listed.
 */
import type {
  BulkActionType,
  BulkItemCode,
  BulkItemOutcome,
  BulkOperationKind,
  BulkOperationStatus,
  TicketCategory,
  TicketPriority,
  TicketStatus,
} from "../clients/generated/graphql.ts";
import { hasKey } from "../guards.ts";

/** Every value of a union, from a record that must name each one (the compiler checks it has them all). */
const values = <T extends string>(all: Record<T, true>): T[] => Object.keys(all).filter((key) => hasKey(all, key));

export const TICKET_STATUSES = values<TicketStatus>({ OPEN: true, PENDING: true, RESOLVED: true, CLOSED: true });
export const TICKET_PRIORITIES = values<TicketPriority>({ LOW: true, NORMAL: true, HIGH: true, URGENT: true });
export const TICKET_CATEGORIES = values<TicketCategory>({
  GENERAL: true,
  BILLING: true,
  TECHNICAL: true,
  ACCOUNT: true,
  FEATURE_REQUEST: true,
});
export const OPERATION_STATUSES = values<BulkOperationStatus>({
  SCHEDULED: true,
  QUEUED: true,
  RUNNING: true,
  CANCELLING: true,
  COMPLETED: true,
  COMPLETED_WITH_ERRORS: true,
  FAILED: true,
  CANCELLED: true,
});
export const OPERATION_KINDS = values<BulkOperationKind>({ STANDARD: true, RETRY: true, ROLLBACK: true });
export const ACTION_TYPES = values<BulkActionType>({
  SET_STATUS: true,
  SET_PRIORITY: true,
  SET_CATEGORY: true,
  ASSIGN: true,
  ADD_COMMENT: true,
  DELETE: true,
  RESTORE: true,
  PURGE: true,
  IMPORT_TICKETS: true,
  EXPORT: true,
  ROLLBACK: true,
});
export const ITEM_OUTCOMES = values<BulkItemOutcome>({
  SUCCEEDED: true,
  FAILED: true,
  SKIPPED: true,
  CANCELLED: true,
  PENDING: true,
});
export const ITEM_CODES = values<BulkItemCode>({
  ALREADY_EXISTS: true,
  DUPLICATE_IN_FILE: true,
  INVALID_FIELD: true,
  INVALID_ROW: true,
  TOO_LONG: true,
  UNKNOWN_ASSIGNEE: true,
  CONFLICT: true,
  DELETED: true,
  FORBIDDEN: true,
  INTERNAL: true,
  INVALID_TRANSITION: true,
  NOT_FOUND: true,
  NO_CHANGE: true,
});
/** Codes that mark skipped items (the rest are failures). */
export const SKIP_CODES: ReadonlySet<BulkItemCode> = new Set<BulkItemCode>(["NO_CHANGE", "CONFLICT"]);
