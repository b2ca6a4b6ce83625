/**
 * Completing a claimed job: the job is deleted and its items' ledger rows are INSERTed with
 * their outcomes and images, in one statement, in the chunk's transaction:
 *   WITH taken AS (DELETE FROM bulk_jobs WHERE id = $job AND locked_by = $worker RETURNING id)
 *   INSERT INTO bulk_operation_items (operation_id, position, target_id, outcome, ...)
 *   SELECT $op, r.* FROM unnest($positions, $targets, $outcomes, $codes, $messages, $befores, $afters) r
 *   WHERE EXISTS (SELECT FROM taken)
 * Each item's row is written once (migrations/0012): until then a start INSERTed it PENDING and
 * this UPDATEd it, a second heap tuple, index entry and dead tuple per item. One statement
 * instead of two (the DELETE was separate): one round trip less per chunk (docs/performance.md,
 * "Statements per chunk"). Nothing deleted means the lease was lost (rescued): the caller rolls
 * the chunk back (LeaseLostError).
 */
import { sql } from "kysely";
import type { ItemResult, Tx } from "../action.ts";
import { type Job, LeaseLostError } from "./job.ts";

const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

export async function completeJob(tx: Tx, job: Job, results: readonly ItemResult[]): Promise<void> {
  const targetOf = (position: number) => job.target_ids[position - job.first_position];
  const { rows } = await sql<{ taken: number }>`
    WITH taken AS (
      DELETE FROM bulk_jobs WHERE id = ${job.id} AND locked_by = ${job.locked_by} RETURNING id),
    written AS (
      INSERT INTO bulk_operation_items
        (operation_id, position, target_id, outcome, error_code, error_message, before, after, attempts, processed_at)
      SELECT ${job.operation_id}, r.position, r.target_id, r.outcome, r.code, r.message, r.before, r.after,
        ${job.attempts}, now()
      FROM unnest(${results.map((r) => r.position)}::int[], ${results.map((r) => targetOf(r.position))}::int8[],
                  ${results.map((r) => r.outcome)}::text[], ${results.map((r) => r.code ?? null)}::text[],
                  ${results.map((r) => r.message ?? null)}::text[], ${results.map((r) => json(r.before))}::jsonb[],
                  ${results.map((r) => json(r.after))}::jsonb[])
        AS r(position, target_id, outcome, code, message, before, after)
      WHERE EXISTS (SELECT 1 FROM taken))
    SELECT count(*)::int AS taken FROM taken`.execute(tx);
  if (rows[0].taken === 0) throw new LeaseLostError(job.id);
}
