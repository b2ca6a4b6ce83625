/**
 * Makes the unclaimed jobs of some operations runnable now (admission: from 'infinity'; cancel:
 * a backoff or a schedule not waited out, so the workers settle them CANCELLED promptly):
 *   UPDATE bulk_jobs SET run_at = now() WHERE operation_id = ANY($ops) AND locked_by IS NULL
 * One row per chunk (500 for a 1,000,000-item operation), never one per item: the keys stay in the
 * TOASTed target_ids, which an UPDATE of run_at does not rewrite.
 * Measured (bench/queue_plans.ts on a queue of a 1,000,000-item operation and others, docs/performance.md
 * "Queue statements"): 500 rows updated
 * in 8.0 ms (median of 7; 16 us a job): a Seq Scan
 * of bulk_jobs, as the operation's jobs were a third of the queue; a smaller share is read through
 * bulk_jobs_operation_idx (Bitmap Index Scan, measured with dead versions left: 12 ms).
 */
import { sql } from "kysely";
import type { Tx } from "../action.ts";

export async function makeJobsDue(tx: Tx, operationIds: readonly string[]): Promise<void> {
  if (operationIds.length === 0) return;
  await tx.updateTable("bulk_jobs").set({ run_at: sql`now()` })
    .where("operation_id", "in", operationIds).where("locked_by", "is", null).execute();
}
