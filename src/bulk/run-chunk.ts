/**
 * Working one claimed job: ONE transaction in which the targets' changes, their ledger
 * rows, the job's deletion and the operation's counters commit together, followed (at
 * commit) by one NOTIFY. Statements per chunk, whatever its size:
 *   SELECT op; SELECT pending items of the range; the action's 2-3 statements;
 *   UPDATE items FROM unnest(...); DELETE job; UPDATE op counters; EXISTS jobs; NOTIFY.
 * Measured: see docs/performance.md.
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import type { BulkDomain, ChunkItem, ItemResult, Tx } from "./action.ts";
import { bumpCounters, cancelRanges, countResults, maybeFinish } from "./finalize.ts";
import { notifyProgress } from "./notify.ts";
import { isTerminal, type OperationRow, type OperationStatus, recordEvent } from "./operation.ts";
import { type Job, LeaseLostError } from "./queue/job.ts";

export interface ChunkReport {
  operationId: string;
  tenantId: string;
  /** The operation's creator: when it finished, their next queued operation may start. */
  createdBy: string;
  kind: OperationRow["kind"];
  actionType: string;
  /** The operation's status after the chunk. */
  status: OperationStatus;
  chunkIndex: number;
  items: number;
  /** The chunk's items per (outcome, code): what /metrics and the chunk's span count. */
  outcomes: OutcomeTally[];
  /** The operation's CANCELLED items, counted once, by the chunk that ended it (cancels settle them job by job). */
  cancelledAtEnd: number;
  finished: boolean;
}

export interface OutcomeTally {
  outcome: ItemResult["outcome"];
  code: string | null;
  count: number;
}

function tally(results: ItemResult[]): OutcomeTally[] {
  const byKey = new Map<string, OutcomeTally>();
  for (const { outcome, code = null } of results) {
    const key = `${outcome} ${code}`;
    const entry = byKey.get(key) ?? byKey.set(key, { outcome, code, count: 0 }).get(key)!;
    entry.count++;
  }
  return [...byKey.values()];
}

/** The report of a committed chunk (its item results) from the operation row it left. */
function reportOf(operation: OperationRow, job: Job, results: ItemResult[]): ChunkReport {
  const finished = isTerminal(operation.status);
  return {
    operationId: operation.id,
    tenantId: operation.tenant_id,
    createdBy: operation.created_by,
    kind: operation.kind,
    actionType: operation.action_type,
    status: operation.status,
    chunkIndex: job.chunk_index,
    items: results.length,
    outcomes: tally(results),
    cancelledAtEnd: finished ? operation.cancelled : 0,
    finished,
  };
}

async function pendingItems(tx: Tx, job: Job): Promise<ChunkItem[]> {
  const rows = await tx.selectFrom("bulk_operation_items").select(["position", "target_id", "before", "after"])
    .where("operation_id", "=", job.operation_id)
    .where("position", ">=", job.first_position).where("position", "<=", job.last_position)
    .where("outcome", "=", "PENDING").orderBy("position").execute();
  return rows.map((row) => ({
    position: row.position,
    targetId: String(row.target_id),
    ...(row.before !== null || row.after !== null ? { planned: { before: row.before, after: row.after } } : {}),
  }));
}

/** One UPDATE for the whole chunk's ledger rows. */
export async function writeResults(tx: Tx, operationId: string, results: ItemResult[], attempts: number) {
  if (results.length === 0) return;
  await sql`
    UPDATE bulk_operation_items AS i SET
      outcome = r.outcome, error_code = r.code, error_message = r.message,
      before = r.before, after = r.after, attempts = ${attempts}, processed_at = now()
    FROM unnest(${results.map((r) => r.position)}::int[], ${results.map((r) => r.outcome)}::text[],
                ${results.map((r) => r.code ?? null)}::text[], ${results.map((r) => r.message ?? null)}::text[],
                ${results.map((r) => json(r.before))}::jsonb[], ${results.map((r) => json(r.after))}::jsonb[])
      AS r(position, outcome, code, message, before, after)
    WHERE i.operation_id = ${operationId} AND i.position = r.position`.execute(tx);
}

const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

/**
 * An EXPORT chunk's part: one row per chunk, in the chunk's transaction (a retried chunk
 * rolled its earlier part back with its items, so the primary key never sees it twice).
 */
async function writePart(tx: Tx, job: Job, output: string[]): Promise<void> {
  await tx.insertInto("bulk_operation_parts")
    .values({ operation_id: job.operation_id, chunk_index: job.chunk_index, body: output.join("\n") }).execute();
}

/** Deletes the job if this worker still holds it; otherwise the chunk must roll back. */
async function takeJob(tx: Tx, job: Job): Promise<void> {
  const deleted = await tx.deleteFrom("bulk_jobs").where("id", "=", job.id as never)
    .where("locked_by", "=", job.locked_by).executeTakeFirst();
  if (deleted.numDeletedRows === 0n) throw new LeaseLostError(job.id);
}

/** Commits the chunk's results (possibly none) and ends the operation if it was the last job. */
async function commitChunk(tx: Tx, job: Job, results: ItemResult[], cancelled = 0): Promise<ChunkReport> {
  await writeResults(tx, job.operation_id, results, job.attempts);
  await takeJob(tx, job);
  const operation = await bumpCounters(tx, job.operation_id, { ...countResults(results), cancelled });
  const after = await maybeFinish(tx, operation);
  await notifyProgress(tx, after.tenant_id, after.id);
  return reportOf(after, job, results);
}

export async function runChunk(db: Db, domain: BulkDomain, job: Job): Promise<ChunkReport> {
  return await db.transaction().execute(async (tx) => {
    const operation = await tx.selectFrom("bulk_operations").selectAll().where("id", "=", job.operation_id)
      .executeTakeFirstOrThrow() as OperationRow;
    // A cancel committed before this read: no new chunk starts; its items end CANCELLED
    // (no target is locked: this is how a large cancelled operation is settled, job by job).
    if (operation.cancel_requested_at || isTerminal(operation.status)) {
      return await commitChunk(tx, job, [], await cancelRanges(tx, job.operation_id, [job]));
    }
    const items = await pendingItems(tx, job);
    const action = domain.actions.get(operation.action_type);
    if (!action) throw new Error(`operation ${operation.id} has unknown action ${operation.action_type}`);
    const output = action.kind === "EXPORT" ? [] : null;
    const results = items.length === 0 ? [] : await action.apply({
      tx,
      operationId: operation.id,
      tenantId: operation.tenant_id,
      actorId: operation.created_by,
      params: operation.action_params,
      items,
      dryRun: false,
      output,
    });
    if (output) await writePart(tx, job, output);
    return await commitChunk(tx, job, results);
  });
}

/**
 * After a failed chunk (its transaction rolled back): retry later with exponential backoff
 * and jitter, or, once the attempts are used up, end the chunk's items FAILED/INTERNAL so
 * the operation still finishes. Returns the chunk's report when it gave up on the chunk.
 */
export async function handleChunkFailure(
  db: Db,
  job: Job,
  error: unknown,
  options: { maxAttempts: number },
): Promise<ChunkReport | null> {
  const message = error instanceof Error ? error.message : String(error);
  return await settleFailure(db, job, job.attempts < options.maxAttempts ? message : null);
}

/**
 * Ends a chunk that used up its attempts: its pending items FAILED with code INTERNAL (or CANCELLED, see
 * settleFailure). The ledger and the CHUNK_FAILED event are shown to clients, so they say only that it was
 * internal, masked like an API error (a database error's text names tables and values); the errors
 * themselves were logged at each attempt.
 */
export async function failChunk(db: Db, job: Job): Promise<ChunkReport> {
  return (await settleFailure(db, job, null))!;
}

/**
 * A failed attempt: retried later with backoff when `retryError` is given (kept in the job's last_error,
 * which clients never see), else given up. Decided under the operation's row lock, which cancel takes
 * too, so a cancel either committed before or waits for this commit: a cancelled operation's chunk is
 * neither retried later (its items end CANCELLED now, so CANCELLING ends promptly) nor given up as FAILED
 * (no item ends FAILED in an operation cancelled meanwhile).
 */
async function settleFailure(db: Db, job: Job, retryError: string | null): Promise<ChunkReport | null> {
  return await db.transaction().execute(async (tx) => {
    const operation = await tx.selectFrom("bulk_operations").select("cancel_requested_at")
      .where("id", "=", job.operation_id).forNoKeyUpdate().executeTakeFirstOrThrow();
    if (operation.cancel_requested_at) {
      return await commitChunk(tx, job, [], await cancelRanges(tx, job.operation_id, [job]));
    }
    if (retryError !== null) {
      await tx.updateTable("bulk_jobs").set({
        locked_by: null,
        locked_until: null,
        run_at: sql`now() + ${backoffMs(job.attempts)} * interval '1 millisecond'`,
        last_error: retryError.slice(0, 1000),
      }).where("id", "=", job.id as never).where("locked_by", "=", job.locked_by).execute();
      return null;
    }
    const items = await pendingItems(tx, job);
    const results: ItemResult[] = items.map((item) => ({
      position: item.position,
      outcome: "FAILED",
      code: "INTERNAL",
      message: `Gave up after ${job.attempts} attempts: internal error.`,
    }));
    await recordEvent(tx, job.operation_id, "CHUNK_FAILED", {
      chunk: job.chunk_index,
      attempts: job.attempts,
    });
    return await commitChunk(tx, job, results);
  });
}

/** 200 ms, 400 ms, 800 ms ... capped at 30 s, each scaled by a random 0.5-1.0 (jitter). */
export function backoffMs(attempts: number): number {
  const base = Math.min(30_000, 200 * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.5 + Math.random() / 2));
}
