/** The operation row, its statuses and the small reads the engine and the API share. */
import type { RequestOrigin } from "../audit/record.ts";
import type { Selectable } from "kysely";
import type { Db } from "../db/database.ts";
import type { BulkOperationsTable, OperationStatus } from "../db/tables.ts";
import type { Tx } from "./action.ts";
import { isOneOf } from "../guards.ts";

/**
 * SCHEDULED  waits for scheduled_at (its jobs are not claimable).
 * QUEUED     waits for a slot: its creator already runs BULK_MAX_ACTIVE_PER_USER operations.
 * RUNNING    admitted: its chunks are in the queue or being worked.
 * CANCELLING cancel committed; the chunk in flight finishes, nothing new starts.
 * COMPLETED | COMPLETED_WITH_ERRORS (some items failed) | FAILED (every item failed) | CANCELLED.
 */
export const OPERATION_STATUSES: readonly OperationStatus[] = [
  "SCHEDULED",
  "QUEUED",
  "RUNNING",
  "CANCELLING",
  "COMPLETED",
  "COMPLETED_WITH_ERRORS",
  "FAILED",
  "CANCELLED",
];
export type { OperationStatus };

export const TERMINAL_STATUSES: readonly OperationStatus[] = [
  "COMPLETED",
  "COMPLETED_WITH_ERRORS",
  "FAILED",
  "CANCELLED",
];
export const ACTIVE_STATUSES: readonly OperationStatus[] = ["RUNNING", "CANCELLING"];

export const isTerminal = (status: string) => isOneOf(TERMINAL_STATUSES, status);

/** A bulk_operations row as Kysely selects it. */
export type OperationRow = Selectable<BulkOperationsTable>;

/** An operation of the tenant, or undefined (another tenant's id reads as missing). */
export async function findOperation(db: Db | Tx, tenantId: string, id: string): Promise<OperationRow | undefined> {
  return await db.selectFrom("bulk_operations").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id)
    .executeTakeFirst();
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
