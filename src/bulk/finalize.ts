/**
 * Counters and the end of an operation. Every chunk commit bumps the counters once
 * (never per item); the transaction that removes an operation's last job also ends it.
 * Every PENDING item lies in the position range of a job, and a job is only removed by the
 * transaction that settles its range (applied, failed, or CANCELLED by cancelRanges), so
 * once no job is left no item is PENDING and succeeded + failed + skipped + cancelled =
 * total: ending an operation reads no item, whatever its size.
 */
import { sql } from "kysely";
import type { ItemResult, Tx } from "./action.ts";
import { enqueueOperationEnd } from "../notify/outbox.ts";
import { type OperationRow, type OperationStatus, recordEvent } from "./operation.ts";

export interface ChunkCounts {
  succeeded: number;
  failed: number;
  skipped: number;
  /** Items of the chunk ended CANCELLED (never run) instead of being applied. */
  cancelled: number;
  /** Count per item code (failed and skipped codes alike). */
  codes: Record<string, number>;
}

export function countResults(results: ItemResult[]): ChunkCounts {
  const counts: ChunkCounts = { succeeded: 0, failed: 0, skipped: 0, cancelled: 0, codes: {} };
  for (const result of results) {
    if (result.outcome === "SUCCEEDED") counts.succeeded++;
    else if (result.outcome === "FAILED") counts.failed++;
    else counts.skipped++;
    if (result.code) counts.codes[result.code] = (counts.codes[result.code] ?? 0) + 1;
  }
  return counts;
}

/**
 * One UPDATE per chunk; it also takes the operation's row lock, which orders concurrent
 * chunk commits and cancels of one operation (see maybeFinish).
 */
export async function bumpCounters(tx: Tx, operationId: string, counts: ChunkCounts): Promise<OperationRow> {
  return await tx.updateTable("bulk_operations").set({
    succeeded: sql`succeeded + ${counts.succeeded}`,
    failed: sql`failed + ${counts.failed}`,
    skipped: sql`skipped + ${counts.skipped}`,
    cancelled: sql`cancelled + ${counts.cancelled}`,
    error_counts: sql`error_counts || coalesce((
      SELECT jsonb_object_agg(key, coalesce((bulk_operations.error_counts ->> key)::int, 0) + value::int)
      FROM jsonb_each_text(${JSON.stringify(counts.codes)}::jsonb)), '{}'::jsonb)`,
    // Only work on items starts the throughput clock; cancelling never-run ones does not.
    ...(counts.succeeded + counts.failed + counts.skipped > 0 &&
      { first_chunk_at: sql`coalesce(first_chunk_at, now())` }),
  }).where("id", "=", operationId).returningAll().executeTakeFirstOrThrow() as OperationRow;
}

function terminalStatus(op: OperationRow): OperationStatus {
  if (op.cancel_requested_at) return "CANCELLED";
  if (op.failed === 0) return "COMPLETED";
  return op.succeeded + op.skipped === 0 ? "FAILED" : "COMPLETED_WITH_ERRORS";
}

/**
 * Ends the never-run items of the given position ranges: one UPDATE through the primary key
 * (a nested loop of range scans), touching at most the ranges' rows, never a target:
 *   UPDATE bulk_operation_items i SET outcome = 'CANCELLED' FROM unnest($first, $last) r(f, l)
 *   WHERE i.operation_id = $op AND i.position BETWEEN r.f AND r.l AND i.outcome = 'PENDING'
 * Returns how many items it ended.
 */
export async function cancelRanges(
  tx: Tx,
  operationId: string,
  ranges: readonly { first_position: number; last_position: number }[],
): Promise<number> {
  if (ranges.length === 0) return 0;
  const result = await sql`
    UPDATE bulk_operation_items AS i SET outcome = 'CANCELLED', processed_at = now()
    FROM unnest(${ranges.map((r) => r.first_position)}::int[], ${ranges.map((r) => r.last_position)}::int[])
      AS r(first_position, last_position)
    WHERE i.operation_id = ${operationId} AND i.position BETWEEN r.first_position AND r.last_position
      AND i.outcome = 'PENDING'`.execute(tx);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * Ends the operation if it has no job left. Must run after this transaction took the
 * operation's row lock (bumpCounters or cancel): in READ COMMITTED the EXISTS below then
 * sees every other chunk's committed job deletion, so exactly one transaction finishes it.
 */
export async function maybeFinish(tx: Tx, operation: OperationRow): Promise<OperationRow> {
  const remaining = await tx.selectFrom("bulk_jobs").select("id").where("operation_id", "=", operation.id)
    .limit(1).executeTakeFirst();
  if (remaining) return operation;
  const status = terminalStatus(operation);
  const finished = await tx.updateTable("bulk_operations")
    // clock_timestamp(), not now(): the real end, so throughput = items / (finished_at - first_chunk_at).
    .set({ status, finished_at: sql`clock_timestamp()` })
    .where("id", "=", operation.id).returningAll().executeTakeFirstOrThrow() as OperationRow;
  await recordEvent(tx, operation.id, status === "CANCELLED" ? "CANCELLED" : "FINISHED", {
    status,
    succeeded: finished.succeeded,
    failed: finished.failed,
    skipped: finished.skipped,
    cancelled: finished.cancelled,
  });
  await enqueueOperationEnd(tx, finished);
  return finished;
}
