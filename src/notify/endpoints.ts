/**
 * Webhook endpoints and their deliveries, always scoped to a tenant (another tenant's id
 * reads as missing). Input is checked before anything is written; a refusal is an
 * EndpointError with a code the API turns into a userError.
 */
import { type Selectable, sql } from "kysely";
import { createdAtKey, createdAtSeek, type Page } from "../bulk/history.ts";
import type { Db } from "../db/database.ts";
import type { DeliveryStatus, WebhookEndpointsTable } from "../db/tables.ts";
import { checkWebhookUrl, resolveTarget, UnsafeUrlError } from "./address-guard.ts";
import { disableEndpoint } from "./delivery-queue.ts";
import type { EventType } from "./events.ts";
import { encryptSecret, newSigningSecret } from "./secrets.ts";

export const URL_MAX = 2000;
export const DESCRIPTION_MAX = 500;

export type EndpointErrorCode =
  | "WEBHOOKS_NOT_CONFIGURED"
  | "INVALID_INPUT"
  | "UNSAFE_URL"
  | "NOT_FOUND"
  | "ENDPOINT_DISABLED";

export class EndpointError extends Error {
  constructor(readonly code: EndpointErrorCode, message: string, readonly field: string[] | null = null) {
    super(message);
    this.name = "EndpointError";
  }
}

export interface DeliveryRow {
  id: string;
  event_id: string;
  endpoint_id: string | null;
  event_type: string;
  payload: unknown;
  status: DeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: Date;
  delivered_at: Date | null;
  created_at: Date;
}

/** Every column except the secrets: nothing that reads endpoints for the API can leak one. */
const ENDPOINT_COLUMNS = [
  "id",
  "tenant_id",
  "url",
  "description",
  "events",
  "enabled",
  "disabled_reason",
  "consecutive_failures",
  "previous_secret_expires_at",
  "created_at",
  "updated_at",
] as const;

/** An endpoint as the API reads it: exactly ENDPOINT_COLUMNS. */
export type EndpointRow = Pick<Selectable<WebhookEndpointsTable>, typeof ENDPOINT_COLUMNS[number]>;

export interface EndpointSettings {
  secretKey: Uint8Array | undefined;
  allowPrivateNetworks: boolean;
  secretOverlapHours: number;
}

function requireKey(settings: EndpointSettings): Uint8Array {
  if (!settings.secretKey) {
    throw new EndpointError(
      "WEBHOOKS_NOT_CONFIGURED",
      "Webhooks are off on this server: WEBHOOK_SECRET_KEY (the key that encrypts signing secrets) is not set.",
    );
  }
  return settings.secretKey;
}

/**
 * Refuses what can be refused early: not http(s), too long, credentials, or a host that
 * resolves to a private address now (delivery checks the address again, every time).
 */
async function checkUrl(raw: string, settings: EndpointSettings): Promise<string> {
  const field = ["input", "url"];
  try {
    const url = checkWebhookUrl(raw);
    // The normalised form is what is stored (and what the column's CHECK sees).
    if (url.href.length > URL_MAX) {
      throw new EndpointError("INVALID_INPUT", `url is limited to ${URL_MAX} characters.`, field);
    }
    await resolveTarget(url, settings.allowPrivateNetworks);
    return url.href;
  } catch (error) {
    if (error instanceof UnsafeUrlError) throw new EndpointError("UNSAFE_URL", error.message, field);
    throw error;
  }
}

function checkEvents(events: EventType[]): EventType[] {
  if (events.length === 0) {
    throw new EndpointError("INVALID_INPUT", "Subscribe to at least one event.", ["input", "events"]);
  }
  return [...new Set(events)];
}

function checkDescription(description: string | null | undefined): string | null {
  if (description === null || description === undefined) return null;
  if (description.length > DESCRIPTION_MAX || description.includes("\u0000")) {
    throw new EndpointError(
      "INVALID_INPUT",
      `description is limited to ${DESCRIPTION_MAX} characters, without NUL.`,
      ["input", "description"],
    );
  }
  return description;
}

export interface EndpointInput {
  url: string;
  events: EventType[];
  description?: string | null;
}

/** Creates an endpoint; the secret is returned here and never again. */
export async function createEndpoint(
  db: Db,
  settings: EndpointSettings,
  owner: { tenantId: string; userId: string },
  input: EndpointInput,
): Promise<{ endpoint: EndpointRow; secret: string }> {
  const key = requireKey(settings);
  const events = checkEvents(input.events);
  const description = checkDescription(input.description);
  const values = { url: await checkUrl(input.url, settings), events, description };
  const id = crypto.randomUUID();
  const secret = newSigningSecret();
  const endpoint = await db.insertInto("webhook_endpoints").values({
    id,
    tenant_id: owner.tenantId,
    created_by: owner.userId,
    ...values,
    secret_ciphertext: await encryptSecret(key, id, secret),
  }).returning(ENDPOINT_COLUMNS).executeTakeFirstOrThrow();
  return { endpoint, secret };
}

export interface EndpointChanges {
  url?: string | null;
  events?: EventType[] | null;
  description?: string | null;
  enabled?: boolean | null;
}

/**
 * Changes url, events, description and/or enabled. Re-enabling clears the failure count and
 * the reason it was disabled; disabling ends its pending deliveries FAILED.
 */
export async function updateEndpoint(
  db: Db,
  settings: EndpointSettings,
  tenantId: string,
  id: string,
  changes: EndpointChanges,
): Promise<EndpointRow> {
  const events = changes.events != null ? checkEvents(changes.events) : undefined;
  const description = changes.description !== undefined ? checkDescription(changes.description) : undefined;
  const url = changes.url != null ? await checkUrl(changes.url, settings) : undefined;
  return await db.transaction().execute(async (tx) => {
    const current = await tx.selectFrom("webhook_endpoints").select(["id", "enabled"]).where("tenant_id", "=", tenantId)
      .where("id", "=", id).forUpdate().executeTakeFirst();
    if (!current) throw new EndpointError("NOT_FOUND", "No webhook endpoint with this id.", ["input", "id"]);
    const enabling = changes.enabled === true && !current.enabled;
    if (changes.enabled === false && current.enabled) await disableEndpoint(tx, id, "disabled by an admin");
    return await tx.updateTable("webhook_endpoints").set({
      ...(url !== undefined ? { url } : {}),
      ...(events !== undefined ? { events } : {}),
      ...(description !== undefined ? { description } : {}),
      ...(enabling ? { enabled: true, disabled_reason: null, consecutive_failures: 0 } : {}),
      updated_at: sql`now()`,
    }).where("id", "=", id).returning(ENDPOINT_COLUMNS).executeTakeFirstOrThrow();
  });
}

/**
 * A new secret; the current one becomes the previous one and keeps signing (a second
 * signature in webhook-signature) for WEBHOOK_SECRET_OVERLAP_HOURS.
 */
export async function rotateSecret(
  db: Db,
  settings: EndpointSettings,
  tenantId: string,
  id: string,
): Promise<{ endpoint: EndpointRow; secret: string }> {
  const key = requireKey(settings);
  const secret = newSigningSecret();
  const ciphertext = await encryptSecret(key, id, secret);
  const endpoint = await db.updateTable("webhook_endpoints").set({
    previous_secret_ciphertext: sql`secret_ciphertext`,
    previous_secret_expires_at: sql`now() + make_interval(hours => ${settings.secretOverlapHours})`,
    secret_ciphertext: ciphertext,
    updated_at: sql`now()`,
  }).where("tenant_id", "=", tenantId).where("id", "=", id).returning(ENDPOINT_COLUMNS).executeTakeFirst();
  if (!endpoint) throw new EndpointError("NOT_FOUND", "No webhook endpoint with this id.", ["input", "id"]);
  return { endpoint, secret };
}

/** Deletes the endpoint and its deliveries; false when there is none with this id. */
export async function deleteEndpoint(db: Db, tenantId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom("webhook_endpoints").where("tenant_id", "=", tenantId).where("id", "=", id)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export async function findEndpoint(db: Db, tenantId: string, id: string): Promise<EndpointRow | undefined> {
  return await db.selectFrom("webhook_endpoints").select(ENDPOINT_COLUMNS).where("tenant_id", "=", tenantId)
    .where("id", "=", id).executeTakeFirst();
}

/**
 * Oldest first: keyset (created_at, id) on webhook_endpoints_tenant_idx; each row carries its cursor's
 * created_at to the microsecond (createdAtKey).
 */
export async function listEndpoints(
  db: Db,
  tenantId: string,
  page: Page<[string, string]>,
): Promise<(EndpointRow & { created_at_key: string })[]> {
  const forward = page.direction === "forward";
  let query = db.selectFrom("webhook_endpoints").select(ENDPOINT_COLUMNS).select(createdAtKey)
    .where("tenant_id", "=", tenantId);
  if (page.seek) query = query.where(createdAtSeek(forward ? ">" : "<", page.seek));
  const direction = forward ? "asc" : "desc";
  return await query.orderBy("created_at", direction).orderBy("id", direction).limit(page.limit)
    .execute();
}

const DELIVERY_COLUMNS = sql`d.id, d.event_id, d.endpoint_id, e.type AS event_type, e.payload, d.status, d.attempts,
  d.last_status_code, d.last_error, d.next_attempt_at, d.delivered_at, d.created_at`;

/** An endpoint's deliveries, newest first: keyset id on notification_deliveries_endpoint_idx. */
export async function listDeliveries(db: Db, endpointId: string, page: Page<[string]>): Promise<DeliveryRow[]> {
  const forward = page.direction === "forward";
  const { rows } = await sql<DeliveryRow>`
    SELECT ${DELIVERY_COLUMNS} FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id
    WHERE d.endpoint_id = ${endpointId}
      ${page.seek ? sql`AND d.id ${sql.raw(forward ? "<" : ">")} ${page.seek[0]}` : sql``}
    ORDER BY d.id ${sql.raw(forward ? "DESC" : "ASC")} LIMIT ${page.limit}`.execute(db);
  return rows;
}

export async function findDelivery(db: Db, tenantId: string, id: string): Promise<DeliveryRow | undefined> {
  const { rows } = await sql<DeliveryRow>`
    SELECT ${DELIVERY_COLUMNS} FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id
    WHERE d.tenant_id = ${tenantId} AND d.id = ${id} AND d.channel = 'WEBHOOK'`.execute(db);
  return rows[0];
}

/**
 * Sends a webhook delivery's event again, as a new delivery with the same webhook-id (the
 * same message, so a receiver that already processed it can recognise it). The endpoint must
 * be enabled.
 */
export async function redeliver(db: Db, tenantId: string, deliveryId: string): Promise<DeliveryRow> {
  const original = await findDelivery(db, tenantId, deliveryId);
  if (!original) throw new EndpointError("NOT_FOUND", "No webhook delivery with this id.", ["input", "deliveryId"]);
  const inserted = await db.insertInto("notification_deliveries")
    .columns(["event_id", "tenant_id", "channel", "endpoint_id"])
    .expression((eb) =>
      eb.selectFrom("webhook_endpoints").select([
        sql<string>`${original.event_id}`.as("event_id"),
        "tenant_id",
        sql<"WEBHOOK">`'WEBHOOK'`.as("channel"),
        "id",
      ]).where("id", "=", original.endpoint_id!).where("enabled", "=", true)
    ).returning("id").executeTakeFirst();
  if (!inserted) {
    throw new EndpointError(
      "ENDPOINT_DISABLED",
      "The endpoint is disabled: enable it (updateWebhookEndpoint) before redelivering.",
      ["input", "deliveryId"],
    );
  }
  return (await findDelivery(db, tenantId, inserted.id))!;
}
