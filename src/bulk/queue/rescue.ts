/**
 * The rescuer: jobs whose lease expired (their worker crashed, hung or lost its
 * connection) go back to the queue:
 *   UPDATE bulk_jobs SET locked_by = NULL, locked_until = NULL, run_at = now(), last_error = ...
 *   WHERE id IN (SELECT id FROM bulk_jobs WHERE locked_by IS NOT NULL AND locked_until < now()
 *                FOR UPDATE SKIP LOCKED)
 * Safe to run from every process at once. Nothing is applied twice: a chunk's changes and
 * its ledger rows commit together with the job's deletion, and a worker whose lease was
 * taken finds its job gone at commit and rolls back (LeaseLostError).
 * SKIP LOCKED: an expired job whose row is locked is being worked on right now (its chunk
 * deleted it (queue/complete.ts) and is about to commit, or its heartbeat is renewing it) or rescued
 * by another process; waiting for it stalled the whole maintenance tick, admission included,
 * for as long as that transaction lasted. The next tick looks at it again.
 * Served by bulk_jobs_lease_idx (locked_until) WHERE locked_by IS NOT NULL: the tick reads the held jobs
 * whose lease ended, never the queue.
 * Measured (bench/queue_plans.ts on a queue of a 1,000,000-item operation and others, docs/performance.md
 * "Queue statements"): Index Scan using
 * bulk_jobs_lease_idx (Index Cond locked_until < now()), LockRows, then the primary key per job: 2 expired
 * jobs of 6 held rescued in 0.14 ms (median of 7).
 * The give-up rule: a rescue does not give the attempt back (the claim counted it), so a chunk
 * whose workers keep dying is claimed with attempts > BULK_MAX_ATTEMPTS at last, and that
 * worker ends its items FAILED/INTERNAL instead of running it (worker-loop.ts, chunk-failure.ts failChunk): a
 * poisoned chunk that kills its process cannot keep an operation from ending.
 */
import { sql } from "kysely";
import type { Db } from "../../db/database.ts";

export async function rescueExpiredJobs(db: Db): Promise<number> {
  const result = await db.updateTable("bulk_jobs")
    .set({
      locked_by: null,
      locked_until: null,
      run_at: sql`now()`,
      last_error: sql`'lease expired (held by ' || locked_by || ')'`,
    })
    .where("id", "in", (eb) =>
      eb.selectFrom("bulk_jobs").select("id")
        .where("locked_by", "is not", null).where("locked_until", "<", sql<Date>`now()`)
        .forUpdate().skipLocked())
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
