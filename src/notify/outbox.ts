/**
 * The transactional outbox. Called inside the transaction of the state change that causes
 * the event (the start, the admission, the chunk or cancel that ends the operation), so the
 * event and its deliveries commit or roll back with the change: a crash can neither lose an
 * event nor invent one. One statement per call, set-based over the operations given:
 *
 *   WITH dest AS (the tenant's enabled endpoints subscribed to $type
 *                 UNION ALL the creator's e-mail, when the start asked notify.email and $type is e-mailed),
 *        event AS (INSERT INTO notification_events SELECT ... FROM bulk_operations
 *                  WHERE id = ANY($ids) AND it has a dest RETURNING ...)
 *   INSERT INTO notification_deliveries SELECT ... FROM event JOIN dest
 *
 * Nothing is sent here: deliverers (deliverer.ts) send after the commit, outside chunk work.
 */
import { sql } from "kysely";
import type { Tx } from "../bulk/action.ts";
import type { OperationRow } from "../bulk/operation.ts";
import { EMAIL_EVENT_TYPES, endEventsOf, type EventType } from "./events.ts";

/** Writes the event of each operation and its deliveries; `null` (no event) writes nothing. */
export async function enqueueOperationEvent(
  tx: Tx,
  operationIds: string | string[],
  type: EventType | null,
): Promise<void> {
  const ids = typeof operationIds === "string" ? [operationIds] : operationIds;
  if (ids.length === 0 || type === null) return;
  const emailed = EMAIL_EVENT_TYPES.includes(type);
  // dest: every (operation, destination) pair; an event row is written only for an operation
  // that has one, so tenants without endpoints or e-mail add no rows.
  await sql`
    WITH dest AS (
      SELECT o.id AS operation_id, 'WEBHOOK' AS channel, e.id AS endpoint_id, NULL::text AS recipient
      FROM bulk_operations o
      JOIN webhook_endpoints e ON e.tenant_id = o.tenant_id AND e.enabled AND ${type} = ANY(e.events)
      WHERE o.id = ANY(${ids}::uuid[])
      UNION ALL
      SELECT o.id, 'EMAIL', NULL, u.email
      FROM bulk_operations o JOIN users u ON u.id = o.created_by
      WHERE o.id = ANY(${ids}::uuid[]) AND ${emailed} AND coalesce((o.options -> 'notify' ->> 'email')::boolean, false)
    ), event AS (
      INSERT INTO notification_events (id, tenant_id, operation_id, type, payload)
      SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), o.tenant_id, o.id, ${type},
        jsonb_build_object(
          'type', ${type}::text,
          'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'data', jsonb_build_object('operation', jsonb_build_object(
            'id', o.id, 'kind', o.kind, 'action', o.action_type, 'status', o.status,
            'description', o.description, 'createdAt', o.created_at, 'scheduledAt', o.scheduled_at,
            'startedAt', o.started_at, 'finishedAt', o.finished_at,
            'counts', jsonb_build_object('total', o.total, 'succeeded', o.succeeded, 'failed', o.failed,
              'skipped', o.skipped, 'cancelled', o.cancelled,
              'pending', o.total - o.succeeded - o.failed - o.skipped - o.cancelled),
            -- most frequent first, as the API's errorSummary
            'errorSummary', (SELECT coalesce(jsonb_agg(jsonb_build_object('code', key, 'count', value::int)
              ORDER BY value::int DESC, key COLLATE "C"), '[]'::jsonb) FROM jsonb_each_text(o.error_counts)))))
      FROM bulk_operations o
      WHERE o.id = ANY(${ids}::uuid[]) AND EXISTS (SELECT 1 FROM dest WHERE dest.operation_id = o.id)
      RETURNING id, tenant_id, operation_id)
    INSERT INTO notification_deliveries (event_id, tenant_id, channel, endpoint_id, recipient)
    SELECT event.id, event.tenant_id, dest.channel, dest.endpoint_id, dest.recipient
    FROM event JOIN dest ON dest.operation_id = event.operation_id`.execute(tx);
}

/** The events of an operation's end (see endEventsOf), in the transaction that ends it. */
export async function enqueueOperationEnd(
  tx: Tx,
  operation: Pick<OperationRow, "id" | "action_type" | "status" | "error_counts">,
) {
  for (const type of endEventsOf(operation)) await enqueueOperationEvent(tx, operation.id, type);
}
