/**
 * What follows a chunk whose transaction failed (it rolled back, nothing of it committed):
 * retried later with backoff (queue/retry-later.ts) or, once its attempts are used up, given
 * up: its items end FAILED/INTERNAL in a transaction of their own, so the operation still ends.
 */
import type { Db } from "../db/database.ts";
import type { ItemResult } from "./action.ts";
import { recordEvent } from "./operation.ts";
import type { Job } from "./queue/job.ts";
import { retryLater } from "./queue/retry-later.ts";
import { chunkItems, type ChunkReport, commitChunk } from "./run-chunk.ts";

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
    const operation = await tx.selectFrom("bulk_operations").select(["id", "tenant_id", "cancel_requested_at"])
      .where("id", "=", job.operation_id).forNoKeyUpdate().executeTakeFirstOrThrow();
    if (operation.cancel_requested_at) return await commitChunk(tx, job, operation, "CANCELLED");
    if (retryError !== null) {
      await retryLater(tx, job, retryError);
      return null;
    }
    const results: ItemResult[] = chunkItems(job).map((item) => ({
      position: item.position,
      outcome: "FAILED",
      code: "INTERNAL",
      message: `Gave up after ${job.attempts} attempts: internal error.`,
    }));
    await recordEvent(tx, job.operation_id, "CHUNK_FAILED", {
      chunk: job.chunk_index,
      attempts: job.attempts,
    });
    return await commitChunk(tx, job, operation, { results });
  });
}
