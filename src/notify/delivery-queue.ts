/**
 * The SQL of delivering: claim due deliveries, record what an attempt gave. A claim is one
 * short committed statement (never inside chunk work):
 *
 *   WITH due AS (SELECT id FROM notification_deliveries WHERE status = 'PENDING' AND next_attempt_at <= now()
 *                ORDER BY next_attempt_at LIMIT $n FOR UPDATE SKIP LOCKED)
 *   UPDATE notification_deliveries SET attempts = attempts + 1, next_attempt_at = now() + $lease ...
 *
 * (partial index notification_deliveries_due_idx). Moving next_attempt_at past the send's
 * timeout is the lease: concurrent deliverers skip the row, and one that dies mid-send leaves
 * a delivery that comes due again and is re-sent with the same webhook-id (at least once;
 * receivers dedupe on webhook-id). A result is recorded only by the claim it belongs to
 * (`attempts` unchanged), so a late answer to an expired claim cannot overwrite a newer one.
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import type { OperationPayload } from "./messages.ts";

/** Deliveries are retried for this long after the event, then given up (FAILED). */
export const RETRY_WINDOW_MS = 24 * 3_600_000;
/** The backoff stops doubling here. */
export const MAX_RETRY_DELAY_MS = 3_600_000;

export interface ClaimedDelivery {
  id: string;
  eventId: string;
  channel: "WEBHOOK" | "EMAIL";
  endpointId: string | null;
  recipient: string | null;
  attempts: number;
  createdAt: Date;
  payload: OperationPayload;
}

export async function claimDeliveries(db: Db, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimedDelivery>`
    WITH due AS (
      SELECT id FROM notification_deliveries
      WHERE status = 'PENDING' AND next_attempt_at <= now()
      ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    UPDATE notification_deliveries d
    SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => ${leaseMs / 1000})
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.event_id AS "eventId", d.channel, d.endpoint_id AS "endpointId", d.recipient, d.attempts,
      d.created_at AS "createdAt", (SELECT payload FROM notification_events WHERE id = d.event_id) AS payload`
    .execute(db);
  return rows;
}

/** Exponential backoff with jitter: base * 2^(attempt - 1), capped at 1 h, times 0.5-1.0. */
export function retryDelayMs(attempts: number, baseMs: number, random = Math.random()): number {
  return Math.min(baseMs * 2 ** Math.min(attempts - 1, 30), MAX_RETRY_DELAY_MS) * (0.5 + random / 2);
}

export async function recordDelivered(db: Db, delivery: ClaimedDelivery, statusCode: number | null): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const updated = await tx.updateTable("notification_deliveries")
      .set({ status: "DELIVERED", delivered_at: sql`now()`, last_status_code: statusCode, last_error: null })
      .where("id", "=", delivery.id).where("attempts", "=", delivery.attempts).where("status", "=", "PENDING")
      .executeTakeFirst();
    if (delivery.endpointId && updated.numUpdatedRows > 0n) {
      await tx.updateTable("webhook_endpoints").set({ consecutive_failures: 0 })
        .where("id", "=", delivery.endpointId).where("consecutive_failures", ">", 0).execute();
    }
  });
}

export interface FailedAttempt {
  statusCode: number | null;
  error: string;
  /** Disable the endpoint now (410 Gone), whatever its failure count. */
  gone: boolean;
}

export interface FailurePolicy {
  retryBaseMs: number;
  maxConsecutiveFailures: number;
}

/**
 * Records a failed attempt: retry later, or give up once the next try would fall outside
 * RETRY_WINDOW_MS. A webhook endpoint that answered 410 Gone, or failed
 * maxConsecutiveFailures attempts in a row (any success resets the count), is disabled, and
 * its pending deliveries end FAILED in the same transaction (re-enable + redeliverWebhook
 * sends them again).
 */
export async function recordFailed(
  db: Db,
  delivery: ClaimedDelivery,
  attempt: FailedAttempt,
  policy: FailurePolicy,
): Promise<void> {
  const delay = retryDelayMs(delivery.attempts, policy.retryBaseMs);
  const giveUp = Date.now() + delay > new Date(delivery.createdAt).getTime() + RETRY_WINDOW_MS;
  await db.transaction().execute(async (tx) => {
    const updated = await tx.updateTable("notification_deliveries").set({
      status: giveUp ? "FAILED" : "PENDING",
      next_attempt_at: sql`now() + make_interval(secs => ${delay / 1000})`,
      last_status_code: attempt.statusCode,
      last_error: attempt.error.slice(0, 1000),
    }).where("id", "=", delivery.id).where("attempts", "=", delivery.attempts).where("status", "=", "PENDING")
      .executeTakeFirst();
    if (!delivery.endpointId || updated.numUpdatedRows === 0n) return;
    const endpoint = await tx.updateTable("webhook_endpoints")
      .set({ consecutive_failures: sql`consecutive_failures + 1` })
      .where("id", "=", delivery.endpointId).where("enabled", "=", true)
      .returning("consecutive_failures").executeTakeFirst();
    if (!endpoint) return;
    const reason = attempt.gone
      ? "the endpoint answered 410 Gone"
      : endpoint.consecutive_failures >= policy.maxConsecutiveFailures
      ? `${endpoint.consecutive_failures} consecutive failed attempts`
      : null;
    if (reason) await disableEndpoint(tx, delivery.endpointId, reason);
  });
}

/** Disables an endpoint and ends its pending deliveries FAILED (runs in the caller's transaction). */
export async function disableEndpoint(tx: Db, endpointId: string, reason: string): Promise<void> {
  await tx.updateTable("webhook_endpoints")
    .set({ enabled: false, disabled_reason: reason, updated_at: sql`now()` })
    .where("id", "=", endpointId).execute();
  await tx.updateTable("notification_deliveries")
    .set({ status: "FAILED", last_error: sql`coalesce(last_error || '; ', '') || ${`endpoint disabled: ${reason}`}` })
    .where("endpoint_id", "=", endpointId).where("status", "=", "PENDING").execute();
}
