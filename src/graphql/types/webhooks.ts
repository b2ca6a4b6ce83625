/**
 * Webhook endpoints (ADMIN only), their deliveries, and the `notify` option of starts.
 * The signing secret appears in the payloads of createWebhookEndpoint and
 * rotateWebhookSecret only; no field of WebhookEndpoint can return it.
 */
import { EVENT_TYPES, type EventType, isEventType, type NotifyOptions } from "../../notify/events.ts";
import {
  createEndpoint,
  deleteEndpoint,
  type DeliveryRow,
  EndpointError,
  type EndpointRow,
  type EndpointSettings,
  findDelivery,
  findEndpoint,
  listDeliveries,
  listEndpoints,
  redeliver,
  rotateSecret,
  updateEndpoint,
} from "../../notify/endpoints.ts";
import { StartError } from "../../bulk/start.ts";
import type { Config } from "../../config.ts";
import { builder } from "../builder.ts";
import { type Context, viewerOf } from "../context.ts";
import { BIGINT_PATTERN, encodeId, expectId, UUID_PATTERN } from "../ids.ts";
import { type UserError, userError } from "../errors.ts";
import { type Payload, runMutation } from "../mutation-result.ts";
import { pageRequest, toConnection } from "../pagination.ts";
import { USER_ERRORS_LIST, UserErrorRef } from "./user-error.ts";

// ---- notify option of starts -----------------------------------------------------------

export const NotifyInput = builder.inputType("NotifyInput", {
  description: "Notifications for the operation's creator.",
  fields: (t) => ({
    email: t.boolean({
      required: true,
      description: "E-mail the creator when a scheduled operation is accepted and when the operation ends " +
        "(summary, error counts, download links). Needs SMTP_URL on the server, else EMAIL_NOT_CONFIGURED.",
    }),
  }),
});

/** The notify option of a start; refuses e-mail when the server has no SMTP_URL (nothing written). */
export function notifyOptions(input: { email: boolean } | null | undefined, config: Config): NotifyOptions | null {
  if (!input?.email) return null;
  if (!config.smtpUrl) {
    throw new StartError(
      "EMAIL_NOT_CONFIGURED",
      "E-mail notifications are off on this server (SMTP_URL is not set).",
      ["input", "notify", "email"],
    );
  }
  return { email: true };
}

// ---- types -------------------------------------------------------------------------------

const enumName = (type: EventType) => type.toUpperCase().replace(".", "_");

/** A stored event type (text) as a WebhookEventType value; the outbox writes only EVENT_TYPES. */
function eventType(type: string): EventType {
  if (isEventType(type)) return type;
  throw new Error(`Stored event type ${type} is not a WebhookEventType value.`);
}

export const WebhookEventTypeEnum = builder.enumType("WebhookEventType", {
  description: "What an endpoint subscribes to; on the wire `type` is the dotted name (docs/webhooks.md).",
  values: Object.fromEntries(
    EVENT_TYPES.map((type) => [enumName(type), { value: type, description: `\`${type}\`` }]),
  ),
});

const DeliveryStatusEnum = builder.enumType("WebhookDeliveryStatus", {
  description: "PENDING: to send or to retry. DELIVERED: a 2xx answer. FAILED: given up (24 h of retries) or the " +
    "endpoint was disabled.",
  values: ["PENDING", "DELIVERED", "FAILED"] as const,
});

const WebhookDeliveryRef = builder.objectRef<DeliveryRow>("WebhookDelivery");
export const WebhookEndpointRef = builder.objectRef<EndpointRow>("WebhookEndpoint");

/** node(id:) loads: the viewer's tenant only, and nothing for non-admins (a handful of ids per request). */
async function loadForAdmin<T>(
  ids: string[],
  ctx: Context,
  key: RegExp,
  find: (db: Context["services"]["db"], tenantId: string, id: string) => Promise<T | undefined>,
): Promise<(T | null)[]> {
  if (ctx.viewer?.role !== "ADMIN") return ids.map(() => null);
  const tenantId = viewerOf(ctx).tenantId;
  // A malformed key reads as missing, never as a database error.
  return await Promise.all(
    ids.map(async (id) => key.test(id) ? (await find(ctx.services.db, tenantId, id)) ?? null : null),
  );
}

builder.node(WebhookDeliveryRef, {
  description: "One event sent (or to be sent) to one endpoint.",
  authScopes: { admin: true },
  id: { resolve: (d) => d.id },
  loadMany: (ids, ctx: Context) => loadForAdmin(ids, ctx, BIGINT_PATTERN, findDelivery),
  fields: (t) => ({
    webhookId: t.exposeString("event_id", { description: "The webhook-id header: the same on every retry." }),
    event: t.field({ type: WebhookEventTypeEnum, resolve: (d) => eventType(d.event_type) }),
    payload: t.field({
      type: "JSON",
      description: "The event as stored (links are added when sent).",
      resolve: (d) => d.payload,
    }),
    status: t.field({ type: DeliveryStatusEnum, resolve: (d) => d.status }),
    attempts: t.exposeInt("attempts"),
    lastStatusCode: t.exposeInt("last_status_code", { nullable: true }),
    lastError: t.exposeString("last_error", { nullable: true }),
    nextAttemptAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When it is tried next; null once delivered or given up.",
      resolve: (d) => (d.status === "PENDING" ? d.next_attempt_at : null),
    }),
    deliveredAt: t.field({ type: "DateTime", nullable: true, resolve: (d) => d.delivered_at }),
    createdAt: t.field({ type: "DateTime", resolve: (d) => d.created_at }),
  }),
});

builder.node(WebhookEndpointRef, {
  description: "A URL of your tenant that receives signed event notifications (Standard Webhooks).",
  authScopes: { admin: true },
  id: { resolve: (e) => e.id },
  loadMany: (ids, ctx: Context) => loadForAdmin(ids, ctx, UUID_PATTERN, findEndpoint),
  fields: (t) => ({
    url: t.exposeString("url"),
    description: t.exposeString("description", { nullable: true }),
    events: t.field({ type: [WebhookEventTypeEnum], resolve: (e) => e.events.map(eventType) }),
    enabled: t.exposeBoolean("enabled"),
    disabledReason: t.exposeString("disabled_reason", {
      nullable: true,
      description: "Why it was disabled: 410 Gone, too many consecutive failures, or an admin.",
    }),
    consecutiveFailures: t.exposeInt("consecutive_failures"),
    previousSecretExpiresAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "After a rotation: until then deliveries are also signed with the previous secret.",
      resolve: (e) =>
        e.previous_secret_expires_at && new Date(e.previous_secret_expires_at) > new Date()
          ? e.previous_secret_expires_at
          : null,
    }),
    createdAt: t.field({ type: "DateTime", resolve: (e) => e.created_at }),
    updatedAt: t.field({ type: "DateTime", resolve: (e) => e.updated_at }),
    deliveries: t.connection({
      type: WebhookDeliveryRef,
      description: "Its deliveries, newest first.",
      resolve: async (endpoint, args, ctx) => {
        const request = pageRequest(args, ["bigint"]);
        const rows = await listDeliveries(ctx.services.db, endpoint.id, { ...request, limit: request.limit + 1 });
        return toConnection(rows, request, (d) => [String(d.id)]);
      },
    }),
  }),
});

builder.queryFields((t) => ({
  webhookEndpoints: t.connection({
    type: WebhookEndpointRef,
    authScopes: { admin: true },
    description: "Your tenant's webhook endpoints, oldest first (ADMIN only).",
    resolve: async (_root, args, ctx) => {
      const request = pageRequest(args, ["timestamp", "uuid"]);
      const rows = await listEndpoints(ctx.services.db, viewerOf(ctx).tenantId, {
        ...request,
        limit: request.limit + 1,
      });
      return toConnection(rows, request, (e) => [e.created_at_key, e.id]);
    },
  }),
}));

// ---- mutations ---------------------------------------------------------------------------

const settingsOf = (ctx: Context): EndpointSettings => ({
  secretKey: ctx.services.config.webhookSecretKey,
  allowPrivateNetworks: ctx.services.config.webhookAllowPrivateNetworks,
  secretOverlapHours: ctx.services.config.webhookSecretOverlapHours,
});

/** Runs a mutation into its payload; endpoint refusals (nothing was written) become userErrors. */
function asPayload<T extends object>(run: () => Promise<T & { userErrors: UserError[] }>): Promise<Payload<T>> {
  return runMutation(async () => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof EndpointError) return [userError(error.code, error.message, error.field)];
      throw error;
    }
  });
}

type EndpointResult = { webhookEndpoint: EndpointRow; secret?: string };

const EndpointPayload = builder.objectRef<Payload<EndpointResult>>("WebhookEndpointPayload").implement({
  fields: (t) => ({
    webhookEndpoint: t.field({ type: WebhookEndpointRef, nullable: true, resolve: (p) => p.webhookEndpoint ?? null }),
    secret: t.string({
      nullable: true,
      description: "The signing secret (`whsec_...`): only in createWebhookEndpoint and rotateWebhookSecret, " +
        "shown once. Verify deliveries with any Standard Webhooks library.",
      resolve: (p) => p.secret ?? null,
    }),
    userErrors: t.field({ type: [UserErrorRef], extensions: USER_ERRORS_LIST, resolve: (p) => p.userErrors }),
  }),
});

const DeletePayload = builder.objectRef<Payload<{ deletedWebhookEndpointId: string }>>("DeleteWebhookEndpointPayload")
  .implement({
    fields: (t) => ({
      deletedWebhookEndpointId: t.id({ nullable: true, resolve: (p) => p.deletedWebhookEndpointId ?? null }),
      userErrors: t.field({ type: [UserErrorRef], extensions: USER_ERRORS_LIST, resolve: (p) => p.userErrors }),
    }),
  });

const RedeliverPayload = builder.objectRef<Payload<{ delivery: DeliveryRow }>>("RedeliverWebhookPayload").implement({
  fields: (t) => ({
    delivery: t.field({ type: WebhookDeliveryRef, nullable: true, resolve: (p) => p.delivery ?? null }),
    userErrors: t.field({ type: [UserErrorRef], extensions: USER_ERRORS_LIST, resolve: (p) => p.userErrors }),
  }),
});

const CreateInput = builder.inputType("CreateWebhookEndpointInput", {
  fields: (t) => ({
    url: t.string({ required: true, description: "http(s); private, loopback and link-local addresses are refused." }),
    events: t.field({ type: [WebhookEventTypeEnum], required: true }),
    description: t.string({ required: false, description: "At most 500 characters." }),
  }),
});

const UpdateInput = builder.inputType("UpdateWebhookEndpointInput", {
  description: "Only the fields given change. enabled: true re-enables a disabled endpoint and clears its failures.",
  fields: (t) => ({
    id: t.id({ required: true }),
    url: t.string({ required: false }),
    events: t.field({ type: [WebhookEventTypeEnum], required: false }),
    description: t.string({ required: false }),
    enabled: t.boolean({ required: false }),
  }),
});

const EndpointIdInput = builder.inputType("WebhookEndpointIdInput", {
  fields: (t) => ({ id: t.id({ required: true }) }),
});

const RedeliverInput = builder.inputType("RedeliverWebhookInput", {
  fields: (t) => ({ deliveryId: t.id({ required: true }) }),
});

const endpointKey = (id: string) => expectId(id, "WebhookEndpoint", "id");

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: EndpointPayload,
    authScopes: { admin: true },
    description: "Registers an endpoint; the payload's `secret` is shown this once.",
    args: { input: t.arg({ type: CreateInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      asPayload(async () => {
        const viewer = viewerOf(ctx);
        const created = await createEndpoint(ctx.services.db, settingsOf(ctx), viewer, {
          url: input.url,
          events: input.events,
          description: input.description,
        });
        return { webhookEndpoint: created.endpoint, secret: created.secret, userErrors: [] };
      }),
  }),
  updateWebhookEndpoint: t.field({
    type: EndpointPayload,
    authScopes: { admin: true },
    args: { input: t.arg({ type: UpdateInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      asPayload(async () => {
        const endpoint = await updateEndpoint(
          ctx.services.db,
          settingsOf(ctx),
          viewerOf(ctx).tenantId,
          endpointKey(input.id),
          { url: input.url, events: input.events, description: input.description, enabled: input.enabled },
        );
        return { webhookEndpoint: endpoint, userErrors: [] };
      }),
  }),
  rotateWebhookSecret: t.field({
    type: EndpointPayload,
    authScopes: { admin: true },
    description: "A new secret (shown once). The previous one keeps signing too for WEBHOOK_SECRET_OVERLAP_HOURS " +
      "(default 24): webhook-signature then carries both signatures.",
    args: { input: t.arg({ type: EndpointIdInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      asPayload(async () => {
        const rotated = await rotateSecret(
          ctx.services.db,
          settingsOf(ctx),
          viewerOf(ctx).tenantId,
          endpointKey(input.id),
        );
        return { webhookEndpoint: rotated.endpoint, secret: rotated.secret, userErrors: [] };
      }),
  }),
  deleteWebhookEndpoint: t.field({
    type: DeletePayload,
    authScopes: { admin: true },
    description: "Deletes the endpoint and its delivery history; nothing more is sent to it.",
    args: { input: t.arg({ type: EndpointIdInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(async () => {
        const id = endpointKey(input.id);
        if (!(await deleteEndpoint(ctx.services.db, viewerOf(ctx).tenantId, id))) {
          return [userError("NOT_FOUND", "No webhook endpoint with this id.", ["input", "id"])];
        }
        return { deletedWebhookEndpointId: encodeId("WebhookEndpoint", id), userErrors: [] };
      }),
  }),
  redeliverWebhook: t.field({
    type: RedeliverPayload,
    authScopes: { admin: true },
    description: "Sends a delivery's event again (a new delivery, same webhook-id) to its endpoint.",
    args: { input: t.arg({ type: RedeliverInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      asPayload(async () => {
        const id = expectId(input.deliveryId, "WebhookDelivery", "deliveryId");
        return { delivery: await redeliver(ctx.services.db, viewerOf(ctx).tenantId, id), userErrors: [] };
      }),
  }),
}));
