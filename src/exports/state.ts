/**
 * What an EXPORT operation's file is now (pending, ready, cancelled, failed, expired,
 * deleted), when it expires, and how its parts go (removeParts: by the retention sweep,
 * src/exports/retention.ts, or deleteBulkExport). Either deletes the parts and writes the removal (bulk_export_removals, migration 0014) in one transaction;
 * the operation and its ledger stay.
 */
import { sql } from "kysely";
import type { Tx } from "../bulk/action.ts";
import type { OperationRow } from "../bulk/operation.ts";
import type { Db } from "../db/database.ts";
import type { ExportParams } from "./format.ts";

export const EXPORT_ACTION_TYPE = "EXPORT";

export type ExportState = "PENDING" | "READY" | "CANCELLED" | "FAILED" | "EXPIRED" | "DELETED";

export interface Removal {
  reason: "EXPIRED" | "DELETED";
  removedAt: Date;
}

export interface ExportView {
  params: ExportParams;
  state: ExportState;
  /** finished_at + EXPORT_RETENTION_DAYS; null while the export runs. */
  expiresAt: Date | null;
  removal: Removal | null;
}

export const DAY_MS = 86_400_000;

export const isExport = (operation: Pick<OperationRow, "action_type">) => operation.action_type === EXPORT_ACTION_TYPE;

/**
 * Whether a finished export wrote its whole file: not cancelled, and no chunk gave up
 * (INTERNAL: that chunk's part is missing). Tickets that vanished (NOT_FOUND) leave a complete
 * file of the others, even when that is every ticket (status FAILED, an empty file).
 */
export const fileComplete = (operation: Pick<OperationRow, "status" | "error_counts">) =>
  operation.status !== "CANCELLED" && (operation.error_counts.INTERNAL ?? 0) === 0;

/** The state of an export's file (FAILED: not fileComplete although not cancelled). */
export function exportView(
  operation: OperationRow,
  removal: Removal | null,
  retentionDays: number,
  now = new Date(),
): ExportView {
  const params = operation.action_params as ExportParams;
  const expiresAt = operation.finished_at
    ? new Date(new Date(operation.finished_at).getTime() + retentionDays * DAY_MS)
    : null;
  const state: ExportState = removal
    ? removal.reason
    : !operation.finished_at
    ? "PENDING"
    : operation.status === "CANCELLED"
    ? "CANCELLED"
    : !fileComplete(operation)
    ? "FAILED"
    : expiresAt! <= now
    ? "EXPIRED"
    : "READY";
  return { params, state, expiresAt, removal };
}

/** The removals of some operations, by operation id (one query). */
export async function removalsOf(db: Db | Tx, operationIds: string[]): Promise<Map<string, Removal>> {
  if (operationIds.length === 0) return new Map();
  const { rows } = await sql<{ operation_id: string; reason: Removal["reason"]; removed_at: Date }>`
    SELECT operation_id, reason, removed_at FROM bulk_export_removals
    WHERE operation_id = ANY(${operationIds}::uuid[])`.execute(db);
  return new Map(rows.map((row) => [row.operation_id, { reason: row.reason, removedAt: row.removed_at }]));
}

/** Deletes one export's parts and records why (in the caller's transaction); false if already removed. */
export async function removeParts(
  tx: Tx,
  operationId: string,
  reason: Removal["reason"],
  removedBy: string | null,
  now: Date,
): Promise<boolean> {
  const { rows } = await sql<{ operation_id: string }>`
    INSERT INTO bulk_export_removals (operation_id, reason, removed_at, removed_by)
    VALUES (${operationId}, ${reason}, ${now}, ${removedBy})
    ON CONFLICT (operation_id) DO NOTHING RETURNING operation_id`.execute(tx);
  if (rows.length === 0) return false;
  await tx.deleteFrom("bulk_operation_parts").where("operation_id", "=", operationId).execute();
  return true;
}
