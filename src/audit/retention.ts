/**
 * Retention of the audit trail: audit_events older than BULK_RETENTION_DAYS are deleted, so
 * single-ticket and token records are kept exactly as long as the bulk operations' own ledger
 * (their CREATED and CANCEL_REQUESTED events carry the same IP and User-Agent): one window for
 * "who did what from where", whatever the path. Runs in every pool's retention loop
 * (src/bulk/retention.ts RetentionLoop), after the operations' purge.
 *
 * Set-based and batched, oldest first through audit_events_created_idx (migration 0015):
 *
 *   DELETE FROM audit_events WHERE id IN (
 *     SELECT id FROM audit_events WHERE created_at < $cutoff
 *     ORDER BY created_at LIMIT $batch FOR UPDATE SKIP LOCKED)
 *
 * Each statement is its own transaction of at most `batchSize` row locks; SKIP LOCKED lets
 * several processes prune at once without queueing behind each other. A run stops after about
 * `budgetMs` (the first statement always runs) and says whether rows are left.
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";

export interface AuditRetentionOptions {
  retentionDays: number;
  /** The current time (injected so tests move it instead of waiting days). */
  now?: Date;
  /** Rows per statement (default 5000, as the operations' purge). */
  batchSize?: number;
  /** Work time of the run (default 1000 ms, the operations' RUN_BUDGET_MS). */
  budgetMs?: number;
  /** Once aborted, the run stops before its next statement (the pool is stopping). */
  signal?: AbortSignal;
}

export interface AuditRetentionResult {
  deleted: number;
  /** The run stopped at its budget (or was aborted) with expired events left. */
  backlog: boolean;
}

export async function pruneAuditEvents(db: Db, options: AuditRetentionOptions): Promise<AuditRetentionResult> {
  const now = options.now ?? new Date();
  const batchSize = options.batchSize ?? 5000;
  const cutoff = new Date(now.getTime() - options.retentionDays * 86_400_000);
  const deadline = performance.now() + (options.budgetMs ?? 1000);
  let deleted = 0;
  for (let first = true;; first = false) {
    if (!first && (options.signal?.aborted || performance.now() >= deadline)) return { deleted, backlog: true };
    const result = await sql`
      DELETE FROM audit_events WHERE id IN (
        SELECT id FROM audit_events WHERE created_at < ${cutoff}
        ORDER BY created_at LIMIT ${batchSize} FOR UPDATE SKIP LOCKED)`.execute(db);
    const n = Number(result.numAffectedRows ?? 0n);
    deleted += n;
    if (n < batchSize) return { deleted, backlog: false };
  }
}
