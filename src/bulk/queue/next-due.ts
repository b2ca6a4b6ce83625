/**
 * Milliseconds until the earliest unclaimed job that is waiting for its retry backoff
 * (null: none). Jobs of waiting operations ('infinity') are not counted.
 *   SELECT min(run_at) FROM bulk_jobs WHERE locked_by IS NULL AND run_at > now() AND run_at < 'infinity'
 * A backoff is announced by no NOTIFY, so an idle worker sleeps until then rather than a whole
 * poll interval.
 * Measured (bench/queue_plans.ts on a queue of a 1,000,000-item operation and others, docs/performance.md
 * "Queue statements"): Index Only Scan
 * using bulk_jobs_unlocked_run_at_idx (run_at) WHERE locked_by IS NULL, the first entry after now(),
 * 0.024 ms (median of 7): min() over an index range reads one entry, however long the queue.
 */
import { sql } from "kysely";
import type { Db } from "../../db/database.ts";

export async function msUntilNextDueJob(db: Db): Promise<number | null> {
  const row = await db.selectFrom("bulk_jobs")
    .select(sql<number | null>`extract(epoch FROM min(run_at) - now()) * 1000`.as("ms"))
    .where("locked_by", "is", null).where("run_at", ">", sql<Date>`now()`)
    .where("run_at", "<", sql<Date>`'infinity'::timestamptz`).executeTakeFirst();
  return row?.ms === null || row?.ms === undefined ? null : Number(row.ms);
}
