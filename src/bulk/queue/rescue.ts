/**
 * The rescuer: jobs whose lease expired (their worker crashed, hung or lost its
 * connection) go back to the queue:
 *   UPDATE bulk_jobs SET locked_by = NULL, locked_until = NULL, run_at = now(), last_error = ...
 *   WHERE locked_by IS NOT NULL AND locked_until < now()
 * Safe to run from every process at once. Nothing is applied twice: a chunk's changes and
 * its ledger rows commit together with the job's deletion, and a worker whose lease was
 * taken finds its job gone at commit and rolls back (LeaseLostError).
 * Served by bulk_jobs_lease_idx (locked_until) WHERE locked_by IS NOT NULL.
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
    .where("locked_by", "is not", null).where("locked_until", "<", sql<Date>`now()`)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
