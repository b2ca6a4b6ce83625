/**
 * A failed attempt (its chunk rolled back) goes back to the queue after a backoff:
 *   UPDATE bulk_jobs SET locked_by = NULL, locked_until = NULL, run_at = now() + $backoff,
 *     last_error = $error WHERE id = $job AND locked_by = $worker
 * Backoff 200 ms, 400 ms, 800 ms ... capped at 30 s, each scaled by a random 0.5-1.0 (jitter,
 * so the chunks of one failing operation do not retry in lockstep; River and graphile-worker
 * back off exponentially too). `locked_by = $worker`: a job rescued meanwhile is not touched.
 * Measured (bench/queue_plans.ts on a queue of a 1,000,000-item operation and others, docs/performance.md
 * "Queue statements"): Index Scan using
 * bulk_jobs_pkey, Filter locked_by, 0.11 ms (median of 7).
 */
import { sql } from "kysely";
import type { Tx } from "../action.ts";
import type { Job } from "./job.ts";

export async function retryLater(tx: Tx, job: Job, error: string): Promise<void> {
  await tx.updateTable("bulk_jobs").set({
    locked_by: null,
    locked_until: null,
    run_at: sql`now() + ${backoffMs(job.attempts)} * interval '1 millisecond'`,
    last_error: error.slice(0, 1000),
  }).where("id", "=", job.id).where("locked_by", "=", job.locked_by).execute();
}

export function backoffMs(attempts: number): number {
  const base = Math.min(30_000, 200 * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.5 + Math.random() / 2));
}
