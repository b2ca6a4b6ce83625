/**
 * Gives claimed jobs back at graceful shutdown: unlocked, runnable now, the attempt not counted.
 *   UPDATE bulk_jobs SET locked_by = NULL, locked_until = NULL, run_at = now(),
 *     attempts = greatest(attempts - 1, 0) WHERE locked_by = ANY($workers)
 * Without it a restart left each chunk in flight to the rescuer, one lease (30 s) later.
 * Measured (bench/queue_plans.ts on a queue of a 1,000,000-item operation and others, docs/performance.md
 * "Queue statements"): Bitmap Index
 * Scan on bulk_jobs_lease_idx (the held jobs only), Filter locked_by = ANY, 4 jobs released in
 * 0.17 ms (median of 7).
 */
import { sql } from "kysely";
import type { Db } from "../../db/database.ts";

export async function releaseJobs(db: Db, workerIds: string[]): Promise<number> {
  if (workerIds.length === 0) return 0;
  const result = await db.updateTable("bulk_jobs")
    .set({ locked_by: null, locked_until: null, run_at: sql`now()`, attempts: sql`greatest(attempts - 1, 0)` })
    .where("locked_by", "in", workerIds).executeTakeFirst();
  return Number(result.numUpdatedRows);
}
