/**
 * Per-user caps on starting operations, checked inside the start transaction after admission has locked
 * the user's row (admit.ts), so concurrent starts of one user are counted one after the other and never
 * both slip under a cap. One statement, served by bulk_operations_creator_time_idx (the last minute) and
 * bulk_operations_creator_idx (the waiting ones):
 *   SELECT count(*) FILTER (WHERE created_at > now() - interval '1 minute'), array_agg(...)[n], count(*) FILTER
 *     (WHERE status IN ('QUEUED', 'SCHEDULED')) FROM bulk_operations WHERE created_by = $1 AND (...)
 * Retries and rollbacks are operations too and count alike. An idempotent replay creates nothing and is
 * not counted (it returns before the transaction).
 */
import { sql } from "kysely";
import type { Tx } from "./action.ts";
import type { OperationStatus } from "./operation.ts";

export interface StartCaps {
  /** Operations a user may create per rolling minute (BULK_MAX_STARTS_PER_MINUTE). */
  maxStartsPerMinute: number;
  /** Operations of a user that may wait QUEUED or SCHEDULED at once (BULK_MAX_WAITING_PER_USER). */
  maxWaitingPerUser: number;
}

/**
 * How long to suggest waiting when too many operations wait: their end is not known in advance (they wait
 * for the user's running ones), so this is a hint; bulkOperationsChanged tells when one starts.
 */
export const WAITING_RETRY_MS = 60_000;

export interface CapRefusal {
  code: "RATE_LIMITED" | "TOO_MANY_WAITING";
  message: string;
  /** When trying again can succeed. */
  retryAt: Date;
}

/** The refusal when creating one more operation (in `status`) is over a cap, else null. */
export async function startCapRefusal(
  tx: Tx,
  userId: string,
  status: OperationStatus,
  caps: StartCaps,
): Promise<CapRefusal | null> {
  // frees_at: when the window holds one start fewer than the cap, i.e. when the (recent - max + 1)-th oldest
  // start of the window leaves it (more than `max` can be in it after the cap was lowered).
  const { rows: [counts] } = await sql<{ recent: number; frees_at: Date | null; waiting: number }>`
    SELECT count(*) FILTER (WHERE created_at > now() - interval '1 minute')::int AS recent,
      (array_agg(created_at ORDER BY created_at) FILTER (WHERE created_at > now() - interval '1 minute'))[
        greatest(1, count(*) FILTER (WHERE created_at > now() - interval '1 minute') - ${caps.maxStartsPerMinute} + 1)
      ] + interval '1 minute' AS frees_at,
      count(*) FILTER (WHERE status IN ('QUEUED', 'SCHEDULED'))::int AS waiting
    FROM bulk_operations
    WHERE created_by = ${userId}
      AND (created_at > now() - interval '1 minute' OR status IN ('QUEUED', 'SCHEDULED'))`.execute(tx);
  if (counts.recent >= caps.maxStartsPerMinute) {
    return {
      code: "RATE_LIMITED",
      message: `At most ${caps.maxStartsPerMinute} operations per minute; try again at the time in retryAt.`,
      retryAt: new Date(counts.frees_at!),
    };
  }
  if ((status === "QUEUED" || status === "SCHEDULED") && counts.waiting >= caps.maxWaitingPerUser) {
    return {
      code: "TOO_MANY_WAITING",
      message: `You already have ${counts.waiting} operations waiting (QUEUED or SCHEDULED), the most allowed; ` +
        "cancel one or wait for one to start.",
      retryAt: new Date(Date.now() + WAITING_RETRY_MS),
    };
  }
  return null;
}
