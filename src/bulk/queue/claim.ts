/**
 * Claims one runnable job under a lease:
 *   UPDATE bulk_jobs SET locked_by = $worker, locked_until = now() + $lease, attempts = attempts + 1
 *   WHERE id = (SELECT id FROM bulk_jobs WHERE locked_by IS NULL AND run_at <= now()
 *               ORDER BY chunk_index, id LIMIT 1 FOR UPDATE SKIP LOCKED)
 *   RETURNING id, ..., target_ids, planned_before, planned_after
 * SKIP LOCKED lets any number of workers claim concurrently without waiting on each other
 * (graphile-worker's get_job and River's JobGetAvailable use the same form).
 * ORDER BY chunk_index is the fairness rule: a new operation's chunk 0 goes before the
 * 200th chunk of a long one, so operations interleave chunk by chunk and a 10-item
 * operation started during a million-item one finishes in about one chunk's time.
 * Served by the partial index bulk_jobs_claim_idx (chunk_index, id) WHERE locked_by IS NULL
 * AND run_at < 'infinity' (jobs of waiting operations are not in it: migration 0005).
 * The claim returns the chunk's targets (migration 0012): the chunk's transaction no longer
 * SELECTs its PENDING item rows (there are none), one statement less per chunk. The arrays are
 * TOASTed and the claim's UPDATE does not rewrite them (an unchanged TOASTed value keeps its
 * pointer), so claiming costs the same for a 2,000-key job as for an empty one.
 * Measured (bench/queue_plans.ts on a queue of 1,440 jobs, 500 of them a 1,000,000-item operation's;
 * docs/performance.md "Queue statements"): Index Scan using bulk_jobs_claim_idx, LockRows, Limit 1,
 * then bulk_jobs_pkey: 0.117 ms (0.109-0.129, 7 runs), whatever the queue's length.
 */
import { sql } from "kysely";
import type { Db } from "../../db/database.ts";
import { type Job, JOB_COLUMNS } from "./job.ts";

export async function claimJob(db: Db, workerId: string, leaseMs: number): Promise<Job | undefined> {
  return await db.updateTable("bulk_jobs")
    .set({
      locked_by: workerId,
      locked_until: sql`now() + ${leaseMs} * interval '1 millisecond'`,
      attempts: sql`attempts + 1`,
    })
    .where("id", "=", (eb) =>
      eb.selectFrom("bulk_jobs").select("id")
        .where("locked_by", "is", null).where("run_at", "<=", sql<Date>`now()`)
        .where("run_at", "<", sql<Date>`'infinity'::timestamptz`) // matches the partial index's predicate
        .orderBy("chunk_index").orderBy("id").limit(1)
        .forUpdate().skipLocked())
    .returning(JOB_COLUMNS)
    .executeTakeFirst();
}
