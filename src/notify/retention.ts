/**
 * Pruning the outbox history: events older than NOTIFY_RETENTION_DAYS with no delivery still
 * PENDING are deleted with their deliveries (ON DELETE CASCADE), in batches so no statement
 * holds many row locks; SKIP LOCKED lets several processes prune at once without waiting.
 *
 *   DELETE FROM notification_events WHERE id IN (
 *     SELECT id FROM notification_events e WHERE created_at < now() - $days
 *       AND NOT EXISTS (SELECT 1 FROM notification_deliveries WHERE event_id = e.id AND status = 'PENDING')
 *     ORDER BY created_at LIMIT $batch FOR UPDATE SKIP LOCKED)
 *
 * (notification_events_created_idx; notification_deliveries_event_idx for the NOT EXISTS).
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";

/** Events deleted per statement. */
const BATCH = 1000;

/** Deletes expired events batch by batch; returns how many were deleted. */
export async function pruneNotifications(db: Db, retentionDays: number): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await sql`
      DELETE FROM notification_events WHERE id IN (
        SELECT id FROM notification_events e
        WHERE created_at < now() - make_interval(days => ${retentionDays})
          AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.event_id = e.id AND d.status = 'PENDING')
        ORDER BY created_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)`.execute(db);
    const deleted = Number(result.numAffectedRows ?? 0n);
    total += deleted;
    if (deleted < BATCH) return total;
  }
}
