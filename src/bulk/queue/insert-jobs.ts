/**
 * A start's jobs, one per chunk, each holding its chunk's targets, in ONE statement:
 *   WITH jobs AS (
 *     INSERT INTO bulk_jobs (operation_id, chunk_index, first_position, last_position, run_at,
 *                            trace_context, target_ids [, planned_before, planned_after])
 *     SELECT $op, pos / $chunk, min(pos), max(pos), $runAt, $trace, array_agg(target_id ORDER BY pos)
 *            [, jsonb_agg(before ORDER BY pos), jsonb_agg(after ORDER BY pos)]
 *     FROM (<the targets: pos, target_id [, before, after]>) s GROUP BY pos / $chunk
 *     RETURNING cardinality(target_ids) AS n)
 *   SELECT sum(n) FROM jobs
 * This replaced one PENDING ledger row per target (migrations/0012): a 1,000,000-target start
 * wrote 1,000,000 item rows and their primary-key entries (8.7 s measured) where it now writes
 * 500 job rows of 2,000 keys each (docs/performance.md, "Start").
 */
import { type RawBuilder, sql } from "kysely";
import type { Tx } from "../action.ts";
import { currentTraceparent } from "../../telemetry/tracing.ts";

export interface JobTargets {
  /** Rows (pos int, target_id int8) with pos 0..n-1, plus (before jsonb, after jsonb) when `planned`. */
  rows: RawBuilder<unknown>;
  planned: boolean;
}

/** Inserts the operation's jobs; returns how many targets they hold (0: none matched). */
export async function insertJobs(
  tx: Tx,
  args: { operationId: string; chunkSize: number; runnable: boolean; targets: JobTargets },
): Promise<number> {
  const { operationId, chunkSize, runnable, targets } = args;
  // A planned image is kept only if some item of the chunk has one (CHANGE chunks plan none).
  const images = targets.planned
    ? sql`, CASE WHEN bool_or(s.before IS NOT NULL) THEN jsonb_agg(s.before ORDER BY s.pos) END,
            CASE WHEN bool_or(s.after IS NOT NULL) THEN jsonb_agg(s.after ORDER BY s.pos) END`
    : sql``;
  const { rows } = await sql<{ total: number }>`
    WITH jobs AS (
      INSERT INTO bulk_jobs (operation_id, chunk_index, first_position, last_position, run_at, trace_context,
        target_ids ${targets.planned ? sql`, planned_before, planned_after` : sql``})
      SELECT ${operationId}, s.chunk, min(s.pos), max(s.pos),
        ${runnable ? sql`now()` : sql`'infinity'::timestamptz`}, ${currentTraceparent()}::text,
        array_agg(s.target_id ORDER BY s.pos) ${images}
      FROM (SELECT t.*, t.pos / ${chunkSize}::int AS chunk FROM (${targets.rows}) AS t) AS s
      GROUP BY s.chunk
      RETURNING cardinality(target_ids) AS n)
    SELECT coalesce(sum(n), 0)::int AS total FROM jobs`.execute(tx);
  return rows[0].total;
}
