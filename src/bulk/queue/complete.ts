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
import { type RawBuilder, sql } from "kysely";
import type { ItemResult, LedgerSql, SqlCte, Tx } from "../action.ts";
import type { OutcomeTally } from "../finalize.ts";
import { LEDGER_CTE, ledgerStatement } from "../ledger-sql.ts";
import { type Job, LeaseLostError } from "./job.ts";

/** An item image as a jsonb parameter (undefined: none). */
export const imageJson = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

export async function completeJob(tx: Tx, job: Job, results: readonly ItemResult[]): Promise<void> {
  const targetOf = (position: number) => job.target_ids[position - job.first_position];
  const rows = sql`SELECT * FROM unnest(${results.map((r) => r.position)}::int[],
      ${results.map((r) => targetOf(r.position))}::int8[], ${results.map((r) => r.outcome)}::text[],
      ${results.map((r) => r.code ?? null)}::text[], ${results.map((r) => r.message ?? null)}::text[],
      ${results.map((r) => imageJson(r.before))}::jsonb[], ${results.map((r) => imageJson(r.after))}::jsonb[])
    AS r(position, target_id, outcome, code, message, before, after)`;
  const { rows: [completed] } = await sql<{ taken: number }>`
    WITH taken AS (
      DELETE FROM bulk_jobs WHERE id = ${job.id} AND locked_by = ${job.locked_by} RETURNING id),
    written AS (${insertLedgerRows(job, rows)})
    SELECT count(*)::int AS taken FROM taken`.execute(tx);
  if (completed.taken === 0) throw new LeaseLostError(job.id);
}

/**
 * The same completion for an action that gives its ledger as SQL (action.ts LedgerSql): the action's
 * decisions and changes, the job's deletion and the ledger INSERT are ONE statement, and the process
 * gets back only the chunk's tallies per (outcome, code):
 *   WITH RECURSIVE taken AS (DELETE FROM bulk_jobs WHERE id = $job AND locked_by = $worker
 *                            AND (SELECT count(*) FROM bulk_ledger) >= 0 RETURNING id),
 *        chunk_items AS (SELECT $first + ord - 1 AS position, target_id FROM unnest($keys) WITH ORDINALITY),
 *        <the action's CTEs>, bulk_ledger AS (<the action's SELECT>),
 *        written AS (INSERT INTO bulk_operation_items ... SELECT ... FROM bulk_ledger
 *                    WHERE EXISTS (SELECT FROM taken) RETURNING outcome, error_code)
 *   SELECT taken, outcome, code, count
 * (RECURSIVE only lets the DELETE, written first so the statement reads as the job's completion, name
 * bulk_ledger, a later CTE; nothing recurses.) The DELETE's condition on bulk_ledger is its order: PostgreSQL must decide every item (lock and
 * change the targets) before it knows whether to delete the job, so the job's row is locked only
 * after the targets, as with the separate statements before: a chunk waiting for a target's lock
 * holds no job row, and the heartbeat, the rescue and a thief can still take its lease (a lost lease
 * deletes nothing: LeaseLostError, the chunk rolls back). No item crosses to the process: the apply
 * path SELECTs the chunk's targets into the worker thread, decides there, UPDATEs, builds the images
 * in JavaScript and sends seven 2,000-element arrays back (docs/performance.md, "The ledger in SQL").
 */
export async function completeJobFromLedger(tx: Tx, job: Job, ledger: LedgerSql): Promise<OutcomeTally[]> {
  const { rows } = await completionStatement(job, ledger).execute(tx);
  if (rows[0].taken === 0) throw new LeaseLostError(job.id);
  return talliesOf(rows);
}

/** The tallies a completion statement returns, one row per (outcome, code); a row without outcome: none written. */
export function talliesOf(rows: readonly ({ outcome: null } | OutcomeTally)[]): OutcomeTally[] {
  return rows.flatMap((row) =>
    row.outcome === null ? [] : [{ outcome: row.outcome, code: row.code, count: row.count }]
  );
}

/**
 * The INSERT of a chunk's ledger rows from `source` (position, target_id, outcome, code, message,
 * before, after), written only if the statement's `taken` CTE deleted the job; returns each row's
 * outcome and code for the tallies. Shared by the three completions (apply, LedgerSql, runs).
 */
export function insertLedgerRows(job: Job, source: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`INSERT INTO bulk_operation_items
      (operation_id, position, target_id, outcome, error_code, error_message, before, after, attempts, processed_at)
    SELECT ${job.operation_id}, s.position, s.target_id, s.outcome, s.code, s.message, s.before, s.after,
      ${job.attempts}, now()
    FROM (${source}) AS s(position, target_id, outcome, code, message, before, after)
    WHERE EXISTS (SELECT 1 FROM taken)
    RETURNING outcome, error_code`;
}

/**
 * The head CTE `taken` of a chunk's one completion statement: the job's DELETE, only while this worker
 * still holds it (0 rows: the lease was lost, and nothing else in the statement writes). It names
 * bulk_ledger so that the ledger is computed first (WITH RECURSIVE, ledger-sql.ts).
 */
export function takeJob(job: Job): SqlCte {
  return [
    "taken",
    sql`DELETE FROM bulk_jobs WHERE id = ${job.id} AND locked_by = ${job.locked_by}
        AND (SELECT count(*) FROM ${sql.raw(LEDGER_CTE)}) >= 0 RETURNING id`,
  ];
}

/** The statement of completeJobFromLedger (apart, so its plan can be read: docs/performance.md, "The ledger in SQL"). */
export function completionStatement(job: Job, ledger: LedgerSql) {
  return ledgerStatement<{ taken: number } & ({ outcome: null } | OutcomeTally)>({
    firstPosition: job.first_position,
    keys: job.target_ids.map(String),
    ledger,
    head: [takeJob(job)],
    tail: [
      ["written", insertLedgerRows(job, sql`SELECT * FROM ${sql.raw(LEDGER_CTE)}`)],
    ],
    select: sql`SELECT (SELECT count(*) FROM taken)::int AS taken, w.outcome, w.code, w.count
      FROM (SELECT 1) AS one LEFT JOIN (
        SELECT outcome, error_code AS code, count(*)::int AS count FROM written GROUP BY outcome, error_code
      ) AS w ON true`,
  });
}
