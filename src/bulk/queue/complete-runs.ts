/**
 * Completing a claimed job of a compactLedger action (action.ts; migrations/0017): the job is
 * deleted, its plain SUCCEEDED items are written as RUNS (bulk_item_runs: one row per stretch of
 * consecutive positions, their keys as one int8[]) and only its other items as bulk_operation_items
 * rows, in ONE statement in the chunk's transaction:
 *   WITH RECURSIVE taken AS (DELETE FROM bulk_jobs WHERE id = $job AND locked_by = $worker
 *                            AND (SELECT count(*) FROM bulk_ledger) >= 0 RETURNING id),
 *        chunk_items AS (the job's keys with their positions),
 *        bulk_ledger AS (the results sent from the process, or the action's PartSql row),
 *        other_items AS (position, outcome, code, message, before, after: every item that is not a plain SUCCEEDED),
 *        [part_written AS (INSERT INTO bulk_operation_parts SELECT $op, $chunk, part FROM bulk_ledger WHERE taken),]
 *        rows_written AS (INSERT INTO bulk_operation_items ... FROM other_items JOIN chunk_items WHERE taken),
 *        runs_written AS (INSERT INTO bulk_item_runs SELECT min(position), max(position), array_agg(target_id)
 *                         FROM chunk_items without other_items GROUP BY position - row_number() WHERE taken)
 *   SELECT taken, the SUCCEEDED count, the other items' tallies
 * An export of 1,000,000 targets writes ~50 rows of runs where it wrote 1,000,000 item rows and their
 * primary-key entries (docs/performance.md, "Session 4: export"). With a PartSql the chunk's part is
 * rendered and INSERTed by PostgreSQL in the same statement: it never crosses into the worker thread
 * and back. The crash rule is the one of complete.ts: the part, the ledger and the job's deletion
 * commit together; nothing deleted means the lease was lost (LeaseLostError, the chunk rolls back).
 */
import { type RawBuilder, sql } from "kysely";
import type { ItemResult, PartSql, SqlCte, Tx } from "../action.ts";
import type { OutcomeTally } from "../finalize.ts";
import { LEDGER_CTE, ledgerStatement } from "../ledger-sql.ts";
import { imageJson, insertLedgerRows, takeJob, talliesOf } from "./complete.ts";
import { type Job, LeaseLostError } from "./job.ts";

/** A result stored as a run: SUCCEEDED with nothing else to keep. */
const isPlainSuccess = (r: ItemResult) =>
  r.outcome === "SUCCEEDED" && r.code === undefined && r.message === undefined && r.before === undefined &&
  r.after === undefined;

type CompletionRow = { taken: number; succeeded: number } & ({ outcome: null } | OutcomeTally);

/** The chunk's completion with the part and the failures decided in SQL by the action (PartSql). */
export async function completeJobWithPart(tx: Tx, job: Job, part: PartSql): Promise<OutcomeTally[]> {
  const others = sql`SELECT f.position, 'FAILED'::text AS outcome, ${part.failure.code}::text AS code,
      ${part.failure.message}::text AS message, NULL::jsonb AS before, NULL::jsonb AS after
    FROM ${sql.raw(LEDGER_CTE)} AS l, unnest(l.failed) AS f(position)`;
  const written: SqlCte = [
    "part_written",
    sql`INSERT INTO bulk_operation_parts (operation_id, chunk_index, body)
      SELECT ${job.operation_id}, ${job.chunk_index}, coalesce(l.part, '') FROM ${sql.raw(LEDGER_CTE)} AS l
      WHERE EXISTS (SELECT 1 FROM taken) RETURNING 1`,
  ];
  return await complete(tx, job, { ctes: part.ctes, select: part.select }, others, [written]);
}

/** The chunk's completion with results computed in the process (apply): plain successes become runs. */
export async function completeJobAsRuns(tx: Tx, job: Job, results: readonly ItemResult[]): Promise<OutcomeTally[]> {
  const rest = results.filter((r) => !isPlainSuccess(r));
  const select = sql`SELECT r.* FROM unnest(${rest.map((r) => r.position)}::int[], ${
    rest.map((r) => r.outcome)
  }::text[],
      ${rest.map((r) => r.code ?? null)}::text[], ${rest.map((r) => r.message ?? null)}::text[],
      ${rest.map((r) => imageJson(r.before))}::jsonb[], ${rest.map((r) => imageJson(r.after))}::jsonb[])
    AS r(position, outcome, code, message, before, after)`;
  return await complete(tx, job, { ctes: [], select }, sql`SELECT * FROM ${sql.raw(LEDGER_CTE)}`, []);
}

async function complete(
  tx: Tx,
  job: Job,
  ledger: { ctes: readonly SqlCte[]; select: RawBuilder<unknown> },
  others: RawBuilder<unknown>,
  extra: readonly SqlCte[],
): Promise<OutcomeTally[]> {
  const { rows } = await ledgerStatement<CompletionRow>({
    firstPosition: job.first_position,
    keys: job.target_ids.map(String),
    ledger,
    head: [takeJob(job)],
    tail: [
      ["other_items", others],
      ...extra,
      [
        "rows_written",
        insertLedgerRows(
          job,
          sql`SELECT o.position, k.target_id, o.outcome, o.code, o.message, o.before, o.after
            FROM other_items AS o JOIN chunk_items AS k ON k.position = o.position`,
        ),
      ],
      [
        "runs_written",
        // Consecutive positions share position - row_number(): one run per stretch between other items.
        sql`INSERT INTO bulk_item_runs (operation_id, first_position, last_position, target_ids, attempts, processed_at)
        SELECT ${job.operation_id}, min(s.position), max(s.position), array_agg(s.target_id ORDER BY s.position),
          ${job.attempts}, now()
        FROM (SELECT k.position, k.target_id, k.position - row_number() OVER (ORDER BY k.position) AS stretch
              FROM chunk_items AS k
              WHERE NOT EXISTS (SELECT 1 FROM other_items AS o WHERE o.position = k.position)) AS s
        WHERE EXISTS (SELECT 1 FROM taken)
        GROUP BY s.stretch
        RETURNING cardinality(target_ids) AS n`,
      ],
    ],
    select: sql`SELECT (SELECT count(*) FROM taken)::int AS taken,
        (SELECT coalesce(sum(n), 0) FROM runs_written)::int AS succeeded, w.outcome, w.code, w.count
      FROM (SELECT 1) AS one LEFT JOIN (
        SELECT outcome, error_code AS code, count(*)::int AS count FROM rows_written GROUP BY outcome, error_code
      ) AS w ON true`,
  }).execute(tx);
  if (rows[0].taken === 0) throw new LeaseLostError(job.id);
  const succeeded = rows[0].succeeded;
  return [
    ...(succeeded > 0 ? [{ outcome: "SUCCEEDED" as const, code: null, count: succeeded }] : []),
    ...talliesOf(rows),
  ];
}
