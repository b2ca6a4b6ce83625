/**
 * Claims one runnable job under a lease:
 *   UPDATE bulk_jobs SET locked_by = $worker, locked_until = now() + $lease, attempts = attempts + 1
 *   WHERE id = (SELECT id FROM bulk_jobs WHERE locked_by IS NULL AND run_at <= now()
 *               ORDER BY chunk_index, id LIMIT 1 FOR UPDATE SKIP LOCKED)
 *   RETURNING *
 * SKIP LOCKED lets any number of workers claim concurrently without waiting on each other.
 * ORDER BY chunk_index is the fairness rule: a new operation's chunk 0 goes before the
 * 200th chunk of a long one, so operations interleave chunk by chunk and a 10-item
 * operation started during a million-item one finishes in about one chunk's time.
 * Served by the partial index bulk_jobs_claim_idx (chunk_index, id) WHERE locked_by IS NULL
 * AND run_at < 'infinity' (jobs of waiting operations are not in it: migration 0005).
 */
import { sql } from "kysely";
import type { Db } from "../../db/database.ts";
import type { Job } from "./job.ts";

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
    .returning([
      "id",
      "operation_id",
      "chunk_index",
      "first_position",
      "last_position",
      "attempts",
      "locked_by",
      "last_error",
      "trace_context",
    ])
    .executeTakeFirst();
}

/** Extends the lease of a job this worker holds (the heartbeat); false when it was lost. */
export async function extendLease(db: Db, jobId: string, workerId: string, leaseMs: number): Promise<boolean> {
  const result = await db.updateTable("bulk_jobs")
    .set({ locked_until: sql`now() + ${leaseMs} * interval '1 millisecond'` })
    .where("id", "=", jobId as never).where("locked_by", "=", workerId).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Gives claimed jobs back (graceful shutdown): unlocked, runnable now, attempt not counted. */
export async function releaseJobs(db: Db, workerIds: string[]): Promise<number> {
  if (workerIds.length === 0) return 0;
  const result = await db.updateTable("bulk_jobs")
    .set({ locked_by: null, locked_until: null, run_at: sql`now()`, attempts: sql`greatest(attempts - 1, 0)` })
    .where("locked_by", "in", workerIds).executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * Milliseconds until the earliest unclaimed job that is waiting for its retry backoff
 * (null: none). Jobs of waiting operations ('infinity') are not counted.
 *   SELECT min(run_at) FROM bulk_jobs WHERE locked_by IS NULL AND run_at > now() AND run_at < 'infinity'
 * The queue holds one row per chunk of the operations in flight (hundreds), so this is cheap.
 */
export async function msUntilNextDueJob(db: Db): Promise<number | null> {
  const row = await db.selectFrom("bulk_jobs")
    .select(sql<number | null>`extract(epoch FROM min(run_at) - now()) * 1000`.as("ms"))
    .where("locked_by", "is", null).where("run_at", ">", sql<Date>`now()`)
    .where("run_at", "<", sql<Date>`'infinity'::timestamptz`).executeTakeFirst();
  return row?.ms === null || row?.ms === undefined ? null : Number(row.ms);
}
