/** Kysely table types: one interface per table of migrations/, column names as in SQL. */
import type { ColumnType, Generated } from "kysely";
import type { TicketCategory, TicketPriority, TicketStatus } from "../tickets/model.ts";

/** Has a database default, so optional on insert. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** bigint columns come back from pg as strings (exact beyond 2^53). */
type BigintId = ColumnType<string, never, never>;
type Json = ColumnType<unknown, string | undefined, string>;

export type Role = "ADMIN" | "AGENT" | "VIEWER";

/** bulk_operations.status (migrations/0002); src/bulk/operation.ts says what each means. */
export type OperationStatus =
  | "SCHEDULED"
  | "QUEUED"
  | "RUNNING"
  | "CANCELLING"
  | "COMPLETED"
  | "COMPLETED_WITH_ERRORS"
  | "FAILED"
  | "CANCELLED";

/** bulk_operations.kind: a retry or rollback names its parent. */
export type OperationKind = "STANDARD" | "RETRY" | "ROLLBACK";

/**
 * bulk_operation_items.outcome: only settled outcomes are stored (migrations/0012); an item is
 * PENDING while its job exists (the bulk_operation_ledger view, src/bulk/history.ts listItems).
 */
export type StoredItemOutcome = "SUCCEEDED" | "FAILED" | "SKIPPED" | "CANCELLED";
export type LedgerOutcome = StoredItemOutcome | "PENDING";
/** Every ledger outcome, in display order (the GraphQL enum, the downloads' `?outcome=` filter). */
export const LEDGER_OUTCOMES = [
  "PENDING",
  "SUCCEEDED",
  "FAILED",
  "SKIPPED",
  "CANCELLED",
] as const satisfies readonly LedgerOutcome[];

/**
 * bulk_operations.target_summary (src/bulk/start.ts summarize): what the targets were, as the API
 * shows them (BulkTargetSummary). `count` of a streamed import is written with the total.
 */
export type TargetSummary =
  | { kind: "ids"; count: number; given: number }
  | { kind: "records"; count: number | null }
  | { kind: "filter"; filter: unknown }
  | { kind: "parent"; operationId: string; outcome: StoredItemOutcome; codes?: string[] };

export interface TenantsTable {
  id: Generated<string>;
  name: string;
  created_at: Timestamp;
}

export interface UsersTable {
  id: Generated<string>;
  tenant_id: string;
  email: string;
  name: string;
  role: Role;
  created_at: Timestamp;
}

export interface ApiTokensTable {
  id: Generated<string>;
  user_id: string;
  token_hash: Uint8Array;
  label: Generated<string>;
  created_at: Timestamp;
  revoked_at: NullableTimestamp;
  expires_at: NullableTimestamp;
  scope: ColumnType<TokenScope, TokenScope | undefined, TokenScope>;
  last_used_at: NullableTimestamp;
}

export type TokenScope = "FULL" | "READ_ONLY";

export interface TicketsTable {
  id: BigintId;
  tenant_id: string;
  title: string;
  body: Generated<string>;
  /** The CHECK constraints of migrations/0001 hold the same lists (tickets/model.ts, the one source here). */
  status: Generated<TicketStatus>;
  priority: Generated<TicketPriority>;
  category: Generated<TicketCategory>;
  assignee_id: string | null;
  external_id: Generated<string | null>;
  created_by: string | null;
  version: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface TicketCommentsTable {
  id: BigintId;
  tenant_id: string;
  ticket_id: string;
  author_id: string;
  body: string;
  bulk_operation_id: string | null;
  created_at: Timestamp;
}

export interface BulkOperationsTable {
  id: Generated<string>;
  tenant_id: string;
  created_by: string;
  kind: ColumnType<OperationKind, OperationKind | undefined, OperationKind>;
  parent_id: string | null;
  action_type: string;
  action_params: Json;
  target_summary: ColumnType<TargetSummary, string, string>;
  description: string | null;
  idempotency_key: string | null;
  input_hash: string | null;
  status: OperationStatus;
  total: number;
  succeeded: Generated<number>;
  failed: Generated<number>;
  skipped: Generated<number>;
  cancelled: Generated<number>;
  error_counts: ColumnType<Record<string, number>, string | undefined, string>;
  options: Json;
  scheduled_at: NullableTimestamp;
  created_at: Timestamp;
  started_at: NullableTimestamp;
  first_chunk_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  cancel_requested_at: NullableTimestamp;
  /** Set when retention starts deleting the operation (migration 0006). */
  purge_started_at: NullableTimestamp;
}

export interface BulkOperationItemsTable {
  operation_id: string;
  position: number;
  target_id: string;
  outcome: StoredItemOutcome;
  error_code: string | null;
  error_message: string | null;
  before: Json | null;
  after: Json | null;
  attempts: Generated<number>;
  processed_at: NullableTimestamp;
}

/**
 * The view bulk_operation_ledger (migrations/0012): the settled rows and the PENDING items the
 * jobs hold, as one relation, for ad-hoc reads (never written; the API reads both halves with
 * range-bounded queries of its own, src/bulk/history.ts listItems).
 */
export interface BulkOperationLedgerView {
  operation_id: ColumnType<string, never, never>;
  position: ColumnType<number, never, never>;
  target_id: ColumnType<string, never, never>;
  outcome: ColumnType<LedgerOutcome, never, never>;
  error_code: ColumnType<string | null, never, never>;
  error_message: ColumnType<string | null, never, never>;
  before: ColumnType<unknown, never, never>;
  after: ColumnType<unknown, never, never>;
  attempts: ColumnType<number, never, never>;
  processed_at: ColumnType<Date | null, never, never>;
}

/**
 * Runs of consecutive SUCCEEDED items of a compactLedger action (migrations/0017): target_ids[k] is at
 * position first_position + k - 1; written once by the chunk's transaction.
 */
export interface BulkItemRunsTable {
  operation_id: string;
  first_position: number;
  last_position: number;
  target_ids: string[];
  attempts: number;
  processed_at: Date;
}

/** The output parts of EXPORT operations, one per chunk (migration 0011). */
export interface BulkOperationPartsTable {
  operation_id: string;
  chunk_index: number;
  body: string;
  created_at: Generated<Date>;
}

export interface BulkJobsTable {
  id: BigintId;
  operation_id: string;
  chunk_index: number;
  first_position: number;
  last_position: number;
  run_at: Timestamp;
  locked_by: string | null;
  locked_until: NullableTimestamp;
  attempts: Generated<number>;
  last_error: string | null;
  /** W3C traceparent of the creating request (null when tracing is off). */
  trace_context: string | null;
  /** The chunk's target keys in position order (migrations/0012): target_ids[k] is at first_position + k. */
  target_ids: ColumnType<string[], string[], string[]>;
  /** Planned images aligned with target_ids (rollback, IMPORT records), or null. */
  planned_before: ColumnType<unknown[] | null, string | null | undefined, string | null>;
  planned_after: ColumnType<unknown[] | null, string | null | undefined, string | null>;
  created_at: Timestamp;
}

export interface BulkWorkersTable {
  id: string;
  host: string;
  pid: number;
  process_kind: "api" | "worker";
  started_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Date;
  /** bigint: pg returns it as a string. */
  chunks_done: ColumnType<string, number | undefined, number>;
}

export interface BulkOperationEventsTable {
  id: BigintId;
  operation_id: string;
  type: string;
  actor_id: string | null;
  data: Json;
  ip: ColumnType<string | null, string | null | undefined, string | null>;
  user_agent: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
}

/** migrations/0008: token mints and revocations, single-ticket mutations. */
export interface AuditEventsTable {
  id: BigintId;
  tenant_id: string;
  actor_id: string | null;
  action: string;
  subject: ColumnType<string, string | undefined, string>;
  data: Json;
  ip: ColumnType<string | null, string | null | undefined, string | null>;
  user_agent: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
}

export interface BulkPreviewsTable {
  id: Generated<string>;
  tenant_id: string;
  created_by: string;
  input_hash: string;
  target_ids: ColumnType<string[], string[], string[]>;
  created_at: Timestamp;
  expires_at: Date;
}

export interface WebhookEndpointsTable {
  id: Generated<string>;
  tenant_id: string;
  url: string;
  description: string | null;
  events: ColumnType<string[], string[], string[]>;
  enabled: Generated<boolean>;
  disabled_reason: string | null;
  secret_ciphertext: Uint8Array;
  previous_secret_ciphertext: Uint8Array | null;
  previous_secret_expires_at: NullableTimestamp;
  consecutive_failures: Generated<number>;
  created_by: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface NotificationEventsTable {
  id: string;
  tenant_id: string;
  operation_id: string | null;
  type: string;
  payload: Json;
  created_at: Timestamp;
}

export type DeliveryStatus = "PENDING" | "DELIVERED" | "FAILED";

export interface NotificationDeliveriesTable {
  id: BigintId;
  event_id: string;
  tenant_id: string;
  channel: "WEBHOOK" | "EMAIL";
  endpoint_id: string | null;
  recipient: string | null;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: NullableTimestamp;
  created_at: Timestamp;
}

export interface Database {
  tenants: TenantsTable;
  users: UsersTable;
  api_tokens: ApiTokensTable;
  tickets: TicketsTable;
  ticket_comments: TicketCommentsTable;
  bulk_operations: BulkOperationsTable;
  bulk_operation_items: BulkOperationItemsTable;
  bulk_operation_ledger: BulkOperationLedgerView;
  bulk_jobs: BulkJobsTable;
  bulk_operation_parts: BulkOperationPartsTable;
  bulk_item_runs: BulkItemRunsTable;
  bulk_workers: BulkWorkersTable;
  bulk_operation_events: BulkOperationEventsTable;
  bulk_previews: BulkPreviewsTable;
  webhook_endpoints: WebhookEndpointsTable;
  notification_events: NotificationEventsTable;
  notification_deliveries: NotificationDeliveriesTable;
  audit_events: AuditEventsTable;
}
