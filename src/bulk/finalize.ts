/**
 * Counters and the end of an operation. Every chunk commit bumps the counters once
 * (never per item); the transaction whose bump makes them reach the total also ends it.
 * Every PENDING item is held by a job, and a job is only removed by the transaction that
 * settles its items (applied, failed, or CANCELLED: queue/complete.ts, queue/cancel-jobs.ts)
 * and bumps the counters by exactly as many, so succeeded + failed + skipped + cancelled =
 * total exactly when no job is left: ending an operation reads no item and no job.
 */
import { sql } from "kysely";
import type { ItemResult, Tx } from "./action.ts";
import { enqueueOperationEnd } from "../notify/outbox.ts";
import { PROGRESS_CHANNEL, progressPayload } from "./events.ts";
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

/** A chunk's items of one (outcome, code): what the counters, /metrics and the chunk's span count. */
export interface OutcomeTally {
  outcome: ItemResult["outcome"];
  code: string | null;
  count: number;
}

/** The tallies of item results computed in the process (actions with apply, previews). */
export function tallyResults(results: readonly ItemResult[]): OutcomeTally[] {
  const byKey = new Map<string, OutcomeTally>();
  for (const { outcome, code = null } of results) {
    const key = `${outcome} ${code}`;
    const entry = byKey.get(key) ?? byKey.set(key, { outcome, code, count: 0 }).get(key)!;
    entry.count++;
  }
  return [...byKey.values()];
}

export function countTallies(tallies: readonly OutcomeTally[]): ChunkCounts {
  const counts: ChunkCounts = { succeeded: 0, failed: 0, skipped: 0, cancelled: 0, codes: {} };
  for (const { outcome, code, count } of tallies) {
    if (outcome === "SUCCEEDED") counts.succeeded += count;
    else if (outcome === "FAILED") counts.failed += count;
    else counts.skipped += count;
    if (code) counts.codes[code] = (counts.codes[code] ?? 0) + count;
  }
  return counts;
}

export const countResults = (results: readonly ItemResult[]): ChunkCounts => countTallies(tallyResults(results));

/**
 * One UPDATE per chunk; it also takes the operation's row lock, which orders concurrent
 * chunk commits and cancels of one operation (see maybeFinish), and sends the operation's
 * progress NOTIFY (delivered at commit, never for a rolled-back chunk): it was a statement of
 * its own, one round trip per chunk (docs/performance.md, "Statements per chunk").
 */
export async function bumpCounters(
  tx: Tx,
  operation: { id: string; tenantId: string },
  counts: ChunkCounts,
): Promise<OperationRow> {
  const payload = progressPayload({ tenantId: operation.tenantId, operationId: operation.id });
  const { notified: _, ...row } = await tx.updateTable("bulk_operations").set({
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
  }).where("id", "=", operation.id).returningAll()
    .returning(sql<string>`pg_notify(${PROGRESS_CHANNEL}, ${payload})`.as("notified"))
    .executeTakeFirstOrThrow();
  return row;
}

function terminalStatus(op: OperationRow): OperationStatus {
  if (op.cancel_requested_at) return "CANCELLED";
  if (op.failed === 0) return "COMPLETED";
  return op.succeeded + op.skipped === 0 ? "FAILED" : "COMPLETED_WITH_ERRORS";
}

/**
 * Ends the operation if every item is settled. `operation` must be the row bumpCounters
 * returned: its UPDATE waited for the row lock of any concurrent chunk commit and then added
 * to that commit's counters (READ COMMITTED re-reads the locked row), so its counters are
 * exact and exactly one transaction sees them reach the total. This replaced an EXISTS on the
 * operation's jobs, one statement per chunk (docs/performance.md, "Statements per chunk").
 */
export async function maybeFinish(tx: Tx, operation: OperationRow): Promise<OperationRow> {
  const { succeeded, failed, skipped, cancelled, total } = operation;
  if (succeeded + failed + skipped + cancelled < total) return operation;
  const status = terminalStatus(operation);
  const finished = await tx.updateTable("bulk_operations")
    // clock_timestamp(), not now(): the real end, so throughput = items / (finished_at - first_chunk_at).
    .set({ status, finished_at: sql`clock_timestamp()` })
    .where("id", "=", operation.id).returningAll().executeTakeFirstOrThrow();
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
