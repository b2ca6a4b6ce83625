/** The operation row, its statuses and the small reads the engine and the API share. */
import type { RequestOrigin } from "../audit/record.ts";
import type { Db } from "../db/database.ts";
import type { Tx } from "./action.ts";

/**
 * SCHEDULED  waits for scheduled_at (its jobs are not claimable).
 * QUEUED     waits for a slot: its creator already runs BULK_MAX_ACTIVE_PER_USER operations.
 * RUNNING    admitted: its chunks are in the queue or being worked.
 * CANCELLING cancel committed; the chunk in flight finishes, nothing new starts.
 * COMPLETED | COMPLETED_WITH_ERRORS (some items failed) | FAILED (every item failed) | CANCELLED.
 */
export const OPERATION_STATUSES = [
  "SCHEDULED",
  "QUEUED",
  "RUNNING",
  "CANCELLING",
  "COMPLETED",
  "COMPLETED_WITH_ERRORS",
  "FAILED",
  "CANCELLED",
] as const;
export type OperationStatus = typeof OPERATION_STATUSES[number];

export const TERMINAL_STATUSES: readonly OperationStatus[] = [
  "COMPLETED",
  "COMPLETED_WITH_ERRORS",
  "FAILED",
  "CANCELLED",
];
export const ACTIVE_STATUSES: readonly OperationStatus[] = ["RUNNING", "CANCELLING"];

export const isTerminal = (status: string) => (TERMINAL_STATUSES as readonly string[]).includes(status);

export interface OperationRow {
  id: string;
  tenant_id: string;
  created_by: string;
  kind: string;
  parent_id: string | null;
  action_type: string;
  action_params: unknown;
  target_summary: unknown;
  description: string | null;
  idempotency_key: string | null;
  input_hash: string | null;
  status: OperationStatus;
  total: number;
  succeeded: number;
  failed: number;
  skipped: number;
  cancelled: number;
  error_counts: Record<string, number>;
  options: unknown;
  scheduled_at: Date | null;
  created_at: Date;
  started_at: Date | null;
  first_chunk_at: Date | null;
  finished_at: Date | null;
  cancel_requested_at: Date | null;
  /** Retention is deleting it: it can no longer be retried or rolled back. */
  purge_started_at: Date | null;
}

/** An operation of the tenant, or undefined (another tenant's id reads as missing). */
export async function findOperation(db: Db | Tx, tenantId: string, id: string): Promise<OperationRow | undefined> {
  return await db.selectFrom("bulk_operations").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id)
    .executeTakeFirst() as OperationRow | undefined;
}

export async function recordEvent(
  tx: Tx,
  operationId: string,
  type: string,
  data: Record<string, unknown> = {},
  actorId: string | null = null,
  origin: RequestOrigin | null = null,
): Promise<void> {
  await tx.insertInto("bulk_operation_events")
    .values({
      operation_id: operationId,
      type,
      actor_id: actorId,
      data: JSON.stringify(data),
      ip: origin?.ip ?? null,
      user_agent: origin?.userAgent ?? null,
    }).execute();
}
