/**
 * Jobs deleted with their never-run items ended CANCELLED, in one statement that touches no
 * target (the items come from the jobs' target_ids, migrations/0012):
 *   WITH taken AS (DELETE FROM bulk_jobs WHERE <which> RETURNING first_position, target_ids)
 *   INSERT INTO bulk_operation_items (operation_id, position, target_id, outcome, processed_at)
 *   SELECT $op, first_position + ord - 1, target_id, 'CANCELLED', now()
 *   FROM taken, unnest(target_ids) WITH ORDINALITY
 * It was a DELETE of the jobs and an UPDATE of their PENDING rows, two statements; a 10,000-item
 * inline cancel now inserts 10,000 rows where it rewrote 10,000 (docs/performance.md, "Cancel").
 */
import { type RawBuilder, sql } from "kysely";
import type { Tx } from "../action.ts";
import { type Job, LeaseLostError } from "./job.ts";

async function deleteCancelled(tx: Tx, operationId: string, which: RawBuilder<unknown>) {
  const { rows } = await sql<{ jobs: number; items: number }>`
    WITH taken AS (DELETE FROM bulk_jobs WHERE ${which} RETURNING first_position, target_ids),
    written AS (
      INSERT INTO bulk_operation_items (operation_id, position, target_id, outcome, processed_at)
      SELECT ${operationId}, t.first_position + (u.ord - 1)::int, u.target_id, 'CANCELLED', now()
      FROM taken AS t, unnest(t.target_ids) WITH ORDINALITY AS u(target_id, ord)
      RETURNING 1)
    SELECT (SELECT count(*) FROM taken)::int AS jobs, (SELECT count(*) FROM written)::int AS items`.execute(tx);
  return rows[0];
}

/**
 * A cancel deletes the operation's unclaimed jobs, the items it may end itself; returns how many
 * items it ended:
 *   <which> = id IN (SELECT id FROM bulk_jobs WHERE operation_id = $op AND locked_by IS NULL
 *                    FOR UPDATE SKIP LOCKED)
 * The jobs read a moment ago may have been claimed since; this statement never deletes or
 * waits for one. Deleting a job by id alone did both: a worker claimed job J between that read
 * and the DELETE, the DELETE took J's row lock (waiting for the claim's commit), the chunk
 * locked J's items and then waited for J while the cancel waited for those items: a deadlock.
 * Locked by someone else here means being claimed (the claim is the only writer of an
 * unclaimed job of an operation that is not finished and whose row lock this transaction
 * holds), so a skipped job always has a worker that will settle it.
 */
export async function deleteUnclaimedJobs(tx: Tx, operationId: string): Promise<number> {
  const which = sql`id IN (SELECT id FROM bulk_jobs WHERE operation_id = ${operationId} AND locked_by IS NULL
    FOR UPDATE SKIP LOCKED)`;
  return (await deleteCancelled(tx, operationId, which)).items;
}

/** A claimed job of a cancelled operation ends its items CANCELLED (runChunk); LeaseLostError if rescued. */
export async function cancelClaimedJob(tx: Tx, job: Job): Promise<number> {
  const taken = await deleteCancelled(tx, job.operation_id, sql`id = ${job.id} AND locked_by = ${job.locked_by}`);
  if (taken.jobs === 0) throw new LeaseLostError(job.id);
  return taken.items;
}
