/**
 * The SQL of delivering: claim due deliveries, record what an attempt gave. A claim is one
 * short committed statement (never inside chunk work):
 *
 *   WITH due AS (SELECT id FROM notification_deliveries WHERE status = 'PENDING' AND next_attempt_at <= now()
 *                AND channel = ANY($channels) AND created_at > now() - '24 hours'
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
import { deliveryResults } from "../metrics/registry.ts";
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
  payload: OperationPayload;
}

export type Channel = ClaimedDelivery["channel"];

/**
 * Claims up to `limit` due deliveries of `channels` (those this process can send: a process
 * without WEBHOOK_SECRET_KEY or SMTP_URL must leave them to one that has it, not fail them).
 */
export async function claimDeliveries(
  db: Db,
  limit: number,
  leaseMs: number,
  channels: readonly Channel[],
): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimedDelivery>`
    WITH due AS (
      SELECT id FROM notification_deliveries
      WHERE status = 'PENDING' AND next_attempt_at <= now() AND channel = ANY(${channels})
        AND created_at > now() - make_interval(secs => ${RETRY_WINDOW_MS / 1000})
      ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    UPDATE notification_deliveries d
    SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => ${leaseMs / 1000})
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.event_id AS "eventId", d.channel, d.endpoint_id AS "endpointId", d.recipient, d.attempts,
      (SELECT payload FROM notification_events WHERE id = d.event_id) AS payload`
    .execute(db);
  return rows;
}

/**
 * Ends FAILED the due deliveries of `channels` whose retry window is over (the database's
 * clock decides, as for created_at): a delivery that was never sent in time, e.g. released
 * again and again by processes whose WEBHOOK_SECRET_KEY cannot decrypt its secret, ends here
 * instead of being claimed forever. Returns how many ended.
 */
export async function expireDeliveries(db: Db, limit: number, channels: readonly Channel[]): Promise<number> {
  const { rows } = await sql<{ channel: Channel }>`
    WITH expired AS (
      SELECT id FROM notification_deliveries
      WHERE status = 'PENDING' AND next_attempt_at <= now() AND channel = ANY(${channels})
        AND created_at <= now() - make_interval(secs => ${RETRY_WINDOW_MS / 1000})
      ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    UPDATE notification_deliveries d
    SET status = 'FAILED', last_error = coalesce(d.last_error || '; ', '') || 'retry window (24 h) ended'
    FROM expired WHERE d.id = expired.id
    RETURNING d.channel`.execute(db);
  rows.forEach(({ channel }) => deliveryResults.inc({ channel: channelLabel(channel), result: "failed" }));
  return rows.length;
}

/** Exponential backoff with jitter: base * 2^(attempt - 1), capped at 1 h, times 0.5-1.0. */
export function retryDelayMs(attempts: number, baseMs: number, random = Math.random()): number {
  return Math.min(baseMs * 2 ** Math.min(attempts - 1, 30), MAX_RETRY_DELAY_MS) * (0.5 + random / 2);
}

/** The `channel` label of notification_deliveries_total. */
const channelLabel = (channel: Channel) => channel === "WEBHOOK" ? "webhook" : "email";

/** What an attempt's record did, counted only when it was recorded (its claim was still current). */
type DeliveryResult = "delivered" | "retry" | "failed" | "disabled" | "released";

function countResult(delivery: ClaimedDelivery, result: DeliveryResult): void {
  deliveryResults.inc({ channel: channelLabel(delivery.channel), result });
}

export async function recordDelivered(db: Db, delivery: ClaimedDelivery, statusCode: number | null): Promise<void> {
  const recorded = await db.transaction().execute(async (tx) => {
    const updated = await tx.updateTable("notification_deliveries")
      .set({ status: "DELIVERED", delivered_at: sql`now()`, last_status_code: statusCode, last_error: null })
      .where("id", "=", delivery.id).where("attempts", "=", delivery.attempts).where("status", "=", "PENDING")
      .executeTakeFirst();
    if (updated.numUpdatedRows === 0n) return false;
    if (delivery.endpointId) {
      await tx.updateTable("webhook_endpoints").set({ consecutive_failures: 0 })
        .where("id", "=", delivery.endpointId).where("consecutive_failures", ">", 0).execute();
    }
    return true;
  });
  // Counted after the commit, so a rolled-back record counts nothing.
  if (recorded) countResult(delivery, "delivered");
}

/**
 * Gives a claimed delivery back unsent because of this process's configuration (e.g. a
 * WEBHOOK_SECRET_KEY that cannot decrypt the endpoint's secret): no attempt is counted and
 * the endpoint's failure count is untouched (an operator's mistake must not disable a
 * tenant's endpoint). It comes due again after `delayMs`, for any process; the retry window
 * still ends it (expireDeliveries).
 */
export async function releaseDelivery(
  db: Db,
  delivery: ClaimedDelivery,
  error: string,
  delayMs: number,
): Promise<void> {
  const updated = await db.updateTable("notification_deliveries").set({
    attempts: delivery.attempts - 1,
    next_attempt_at: sql`now() + make_interval(secs => ${delayMs / 1000})`,
    last_error: error.slice(0, 1000),
  }).where("id", "=", delivery.id).where("attempts", "=", delivery.attempts).where("status", "=", "PENDING")
    .executeTakeFirst();
  if (updated.numUpdatedRows > 0n) countResult(delivery, "released");
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
 * RETRY_WINDOW_MS (on the database's clock). A webhook endpoint that answered 410 Gone, or failed
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
  const delay = sql`make_interval(secs => ${retryDelayMs(delivery.attempts, policy.retryBaseMs) / 1000})`;
  const result = await db.transaction().execute(async (tx): Promise<DeliveryResult | null> => {
    // The window is compared on the database's clock, the one created_at was written with.
    const updated = await tx.updateTable("notification_deliveries").set({
      status: sql`CASE WHEN now() + ${delay} > created_at + make_interval(secs => ${RETRY_WINDOW_MS / 1000})
        THEN 'FAILED' ELSE 'PENDING' END`,
      next_attempt_at: sql`now() + ${delay}`,
      last_status_code: attempt.statusCode,
      last_error: attempt.error.slice(0, 1000),
    }).where("id", "=", delivery.id).where("attempts", "=", delivery.attempts).where("status", "=", "PENDING")
      .returning("status").executeTakeFirst();
    if (!updated) return null;
    const ended: DeliveryResult = updated.status === "FAILED" ? "failed" : "retry";
    if (!delivery.endpointId) return ended;
    const endpoint = await tx.updateTable("webhook_endpoints")
      .set({ consecutive_failures: sql`consecutive_failures + 1` })
      .where("id", "=", delivery.endpointId).where("enabled", "=", true)
      .returning("consecutive_failures").executeTakeFirst();
    if (!endpoint) return ended;
    const reason = attempt.gone
      ? "the endpoint answered 410 Gone"
      : endpoint.consecutive_failures >= policy.maxConsecutiveFailures
      ? `${endpoint.consecutive_failures} consecutive failed attempts`
      : null;
    if (!reason) return ended;
    await disableEndpoint(tx, delivery.endpointId, reason);
    return "disabled";
  });
  if (result) countResult(delivery, result);
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
