/**
 * The heartbeat: extends the lease of a job this worker holds; false when it was lost.
 *   UPDATE bulk_jobs SET locked_until = now() + $lease WHERE id = $job AND locked_by = $worker
 * One primary-key update every lease/3 per chunk in flight (a few per second in all), so its
 * cost does not show in any figure; `locked_by = $worker` is what makes a rescued job's old
 * worker notice (0 rows) and roll its chunk back.
 * Measured (bench/queue_plans.ts on a queue of a 1,000,000-item operation and others, docs/performance.md
 * "Queue statements"): Index Scan using
 * bulk_jobs_pkey, Filter locked_by, 0.10 ms (median of 7).
 */
import { sql } from "kysely";
import type { Db } from "../../db/database.ts";

export async function extendLease(db: Db, jobId: string, workerId: string, leaseMs: number): Promise<boolean> {
  const result = await db.updateTable("bulk_jobs")
    .set({ locked_until: sql`now() + ${leaseMs} * interval '1 millisecond'` })
    .where("id", "=", jobId).where("locked_by", "=", workerId).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
