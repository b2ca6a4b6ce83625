/**
 * Working one claimed job: ONE transaction in which the targets' changes, their ledger
 * rows, the job's deletion and the operation's counters commit together, followed (at
 * commit) by one NOTIFY. Statements per chunk, whatever its size (docs/performance.md,
 * "Statements per chunk": it was 7 + the action's):
 *   SELECT op; the action's 2-3 statements; DELETE job + INSERT its ledger rows (one
 *   statement, queue/complete.ts); UPDATE op counters RETURNING pg_notify (finalize.ts).
 * The chunk's targets come with the claim (queue/claim.ts), so no item row is read.
 * What happens after a failed chunk (retry later, give up) is chunk-failure.ts.
 */
import type { Db } from "../db/database.ts";
import type { BulkDomain, ChunkItem, ItemResult, LedgerSql, PartSql, Tx } from "./action.ts";
import { bumpCounters, countTallies, maybeFinish, type OutcomeTally, tallyResults } from "./finalize.ts";
import { isTerminal, type OperationRow, type OperationStatus } from "./operation.ts";
import { cancelClaimedJob } from "./queue/cancel-jobs.ts";
import { completeJob, completeJobFromLedger } from "./queue/complete.ts";
import { completeJobAsRuns, completeJobWithPart } from "./queue/complete-runs.ts";
import type { Job } from "./queue/job.ts";

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

/** The report of a committed chunk (its items' tallies) from the operation row it left. */
function reportOf(operation: OperationRow, job: Job, outcomes: OutcomeTally[]): ChunkReport {
  const finished = isTerminal(operation.status);
  return {
    operationId: operation.id,
    tenantId: operation.tenant_id,
    createdBy: operation.created_by,
    kind: operation.kind,
    actionType: operation.action_type,
    status: operation.status,
    chunkIndex: job.chunk_index,
    items: outcomes.reduce((sum, { count }) => sum + count, 0),
    outcomes,
    cancelledAtEnd: finished ? operation.cancelled : 0,
    finished,
  };
}

/** The chunk's items from its job: position, target key and planned images (rollback, IMPORT). */
export function chunkItems(job: Job): ChunkItem[] {
  return job.target_ids.map((targetId, k) => {
    const before = job.planned_before?.[k] ?? null;
    const after = job.planned_after?.[k] ?? null;
    return {
      position: job.first_position + k,
      targetId: String(targetId),
      ...(before !== null || after !== null ? { planned: { before, after } } : {}),
    };
  });
}

/**
 * An EXPORT chunk's part: one row per chunk, in the chunk's transaction (a retried chunk
 * rolled its earlier part back with its items, so the primary key never sees it twice).
 */
async function writePart(tx: Tx, job: Job, output: string[]): Promise<void> {
  await tx.insertInto("bulk_operation_parts")
    .values({ operation_id: job.operation_id, chunk_index: job.chunk_index, body: output.join("\n") }).execute();
}

/**
 * How a chunk settles its items: results computed in the process (`compact`: plain successes stored
 * as runs, queue/complete-runs.ts), the action's ledger SQL, its part in SQL (compact), or CANCELLED.
 */
export type Settlement =
  | { results: ItemResult[]; compact?: boolean }
  | { ledger: LedgerSql }
  | { part: PartSql }
  | "CANCELLED";

/** Writes the chunk's ledger rows with the job's deletion; the tallies of what it wrote. */
async function settleItems(tx: Tx, job: Job, settle: Exclude<Settlement, "CANCELLED">): Promise<OutcomeTally[]> {
  const outcomes = "ledger" in settle
    ? await completeJobFromLedger(tx, job, settle.ledger)
    : "part" in settle
    ? await completeJobWithPart(tx, job, settle.part)
    : settle.compact
    ? await completeJobAsRuns(tx, job, settle.results)
    : (await completeJob(tx, job, settle.results), tallyResults(settle.results));
  const settled = outcomes.reduce((sum, { count }) => sum + count, 0);
  if (settled !== job.target_ids.length) {
    throw new Error(`chunk ${job.id}: ${settled} results for ${job.target_ids.length} items`);
  }
  return outcomes;
}

/**
 * Commits the chunk: its results written with the job's deletion (or, for a cancelled
 * operation, its items ended CANCELLED), the counters bumped, and the operation ended if
 * that was its last job.
 */
export async function commitChunk(
  tx: Tx,
  job: Job,
  operation: Pick<OperationRow, "id" | "tenant_id">,
  settle: Settlement,
): Promise<ChunkReport> {
  const outcomes = settle === "CANCELLED" ? [] : await settleItems(tx, job, settle);
  const cancelled = settle === "CANCELLED" ? await cancelClaimedJob(tx, job) : 0;
  const bumped = await bumpCounters(tx, { id: operation.id, tenantId: operation.tenant_id }, {
    ...countTallies(outcomes),
    cancelled,
  });
  return reportOf(await maybeFinish(tx, bumped), job, outcomes);
}

export async function runChunk(db: Db, domain: BulkDomain, job: Job): Promise<ChunkReport> {
  return await db.transaction().execute(async (tx) => {
    const operation = await tx.selectFrom("bulk_operations")
      .select(["id", "tenant_id", "created_by", "action_type", "action_params", "cancel_requested_at", "status"])
      .where("id", "=", job.operation_id).executeTakeFirstOrThrow();
    // A cancel committed before this read: no new chunk starts; its items end CANCELLED
    // (no target is locked: this is how a large cancelled operation is settled, job by job).
    if (operation.cancel_requested_at || isTerminal(operation.status)) {
      return await commitChunk(tx, job, operation, "CANCELLED");
    }
    const action = domain.actions.get(operation.action_type);
    if (!action) throw new Error(`operation ${operation.id} has unknown action ${operation.action_type}`);
    const context = {
      tenantId: operation.tenant_id,
      actorId: operation.created_by,
      params: operation.action_params,
      dryRun: false,
    };
    if (action.ledgerSql) return await commitChunk(tx, job, operation, { ledger: action.ledgerSql(context) });
    const part = action.partSql?.(context);
    if (part) return await commitChunk(tx, job, operation, { part });
    const items = chunkItems(job);
    const output = action.kind === "EXPORT" ? [] : null;
    const results = items.length === 0 ? [] : await action.apply({
      ...context,
      tx,
      operationId: operation.id,
      items,
      output,
    });
    if (output) await writePart(tx, job, output);
    return await commitChunk(tx, job, operation, { results, compact: action.compactLedger });
  });
}
