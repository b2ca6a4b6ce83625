/**
 * Admission's statements (the policy, who is admitted when and under which lock, is admit.ts's).
 * Both run with the user's row locked (admit.ts lockUserAndCountActive).
 */
import { sql } from "kysely";
import type { Tx } from "../action.ts";

/**
 * Scheduled operations of a user whose time came join the queue (in creation order, as admitQueued
 * then takes them):
 *   UPDATE bulk_operations SET status = 'QUEUED'
 *   WHERE created_by = $user AND status = 'SCHEDULED' AND scheduled_at <= now()
 * Measured (bench/queue_plans.ts on a queue of a 1,000,000-item operation and others, docs/performance.md
 * "Queue statements"): Index Scan using
 * bulk_operations_creator_idx (created_by, status), Filter scheduled_at, 0.18 ms (median of 7).
 */
export async function queueDueScheduled(tx: Tx, userId: string): Promise<void> {
  await tx.updateTable("bulk_operations").set({ status: "QUEUED" }).where("created_by", "=", userId)
    .where("status", "=", "SCHEDULED").where("scheduled_at", "<=", sql<Date>`now()`).execute();
}

/**
 * The user's oldest QUEUED operations, at most `free`, turn RUNNING:
 *   UPDATE bulk_operations SET status = 'RUNNING', started_at = now()
 *   WHERE id IN (SELECT id FROM bulk_operations WHERE created_by = $user AND status = 'QUEUED'
 *                ORDER BY created_at, id LIMIT $free)
 *     AND status = 'QUEUED'
 *   RETURNING id, tenant_id
 * The outer `status = 'QUEUED'` is re-checked on the row version the UPDATE locks: a cancel that
 * committed meanwhile must not be revived.
 * Measured (bench/queue_plans.ts on a queue of a 1,000,000-item operation and others, docs/performance.md
 * "Queue statements"): the user's QUEUED
 * operations through bulk_operations_creator_idx (created_by, status), sorted (a user has a few), then
 * each by bulk_operations_pkey: 1 admitted in 0.15 ms (median of 7), whatever the history's size.
 */
export async function admitQueued(tx: Tx, userId: string, free: number): Promise<{ id: string; tenant_id: string }[]> {
  return await tx.updateTable("bulk_operations")
    .set({ status: "RUNNING", started_at: sql`now()` })
    .where("id", "in", (eb) =>
      eb.selectFrom("bulk_operations").select("id").where("created_by", "=", userId)
        .where("status", "=", "QUEUED").orderBy("created_at").orderBy("id").limit(free))
    .where("status", "=", "QUEUED")
    .returning(["id", "tenant_id"]).execute();
}
