/**
 * Makes the unclaimed jobs of some operations runnable now (admission: from 'infinity'; cancel:
 * a backoff or a schedule not waited out, so the workers settle them CANCELLED promptly):
 *   UPDATE bulk_jobs SET run_at = now() WHERE operation_id = ANY($ops) AND locked_by IS NULL
 * Through bulk_jobs_operation_idx: one row per chunk (500 for a 1,000,000-item operation).
 */
import { sql } from "kysely";
import type { Tx } from "../action.ts";

export async function makeJobsDue(tx: Tx, operationIds: readonly string[]): Promise<void> {
  if (operationIds.length === 0) return;
  await tx.updateTable("bulk_jobs").set({ run_at: sql`now()` })
    .where("operation_id", "in", operationIds).where("locked_by", "is", null).execute();
}
