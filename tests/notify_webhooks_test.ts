/**
 * Webhooks end to end with real receivers on loopback: every event type signed per Standard
 * Webhooks (verified with the npm standardwebhooks library), secret rotation, retries with
 * backoff, timeouts, 410 Gone and consecutive failures disabling an endpoint, no redirects,
 * private addresses refused, and tenancy. `export.ready` (with the file's link) is covered by
 * tests/export_lifecycle_test.ts.
 */
import { expect } from "expect";
import { Webhook } from "standardwebhooks";
import { CANCEL, startOk, ticketGid } from "./helpers/api.ts";
import { finished, operation, ticketIds, waitFor } from "./helpers/bulk.ts";
import { gql } from "./helpers/graphql.ts";
import { type Sample, scrape, valueOf } from "./helpers/prometheus.ts";
import { hang, type ReceivedRequest, startReceiver, waitUntil } from "./helpers/receivers.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import {
  ALL_EVENTS,
  CREATE_ENDPOINT,
  createAcceptedEndpoint,
  DELETE_ENDPOINT,
  DELIVERIES,
  endpointDeliveries,
  endpointKey,
  ENDPOINTS,
  REDELIVER,
  ROTATE_SECRET,
  TEST_SECRET_KEY,
  UPDATE_ENDPOINT,
  WEBHOOK_ENV,
} from "./helpers/webhooks.ts";
import { encodeId } from "../src/graphql/ids.ts";
import { encryptSecret } from "../src/notify/secrets.ts";

const toPending = { setStatus: { status: "PENDING" } };

/** notification_deliveries_total{channel="webhook"} by result, moved since `before` (the registry is the test process's). */
async function deliveryResultsSince(server: TestServer, before: Sample[]): Promise<Record<string, number>> {
  const now = await scrape(`${server.url}/metrics`);
  const moved: Record<string, number> = {};
  for (const result of ["delivered", "retry", "failed", "disabled", "released"]) {
    const labels = { channel: "webhook", result };
    const delta = valueOf(now, "notification_deliveries_total", labels) -
      valueOf(before, "notification_deliveries_total", labels);
    if (delta !== 0) moved[result] = delta;
  }
  return moved;
}
const MISSING_TICKET = ticketGid("999999999");

interface Verified {
  type: string;
  webhookId: string;
  operationId: string;
  payload: {
    type: string;
    timestamp: string;
    data: {
      operation: Record<string, unknown> & { counts: Record<string, number>; errorSummary: unknown[] };
      links: { graphqlId: string; graphql: string; downloads: { csv: string; jsonl: string } };
    };
  };
}

/** Which of `secrets` verify the request (standardwebhooks checks signature and timestamp). */
function verifiedBy(request: ReceivedRequest, secrets: string[]): string[] {
  return secrets.filter((secret) => {
    try {
      new Webhook(secret).verify(request.body, request.headers);
      return true;
    } catch {
      return false;
    }
  });
}

async function ids(server: TestServer, n: number): Promise<string[]> {
  return (await ticketIds(server.db, server.tenant.id)).slice(0, n).map(ticketGid);
}

Deno.test("webhooks: every bulk_operation event arrives once, signed, verified by standardwebhooks; rotation signs with both secrets", async () => {
  await using server = await startTestServer({
    tickets: 30,
    env: { ...WEBHOOK_ENV, PUBLIC_URL: "https://bulk.example" },
  });
  const secrets: string[] = [];
  const verified: Verified[] = [];
  await using receiver = startReceiver((request) => {
    if (verifiedBy(request, secrets).length === 0) return new Response("bad signature", { status: 400 });
    const payload = JSON.parse(request.body);
    verified.push({
      type: payload.type,
      webhookId: request.headers["webhook-id"],
      operationId: payload.data.operation.id,
      payload,
    });
    return new Response("ok");
  });
  const endpoint = await createAcceptedEndpoint(server, server.tenant.admin, { url: receiver.url, events: ALL_EVENTS });
  expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
  secrets.push(endpoint.secret);

  const targets = await ids(server, 10);
  const now = await startOk(server, server.tenant.admin, {
    targets: { ids: [...targets, MISSING_TICKET] },
    action: toPending,
  });
  const soon = await startOk(server, server.tenant.admin, {
    targets: { ids: targets.slice(0, 3) },
    action: toPending,
    scheduledAt: new Date(Date.now() + 1500).toISOString(),
  });
  const later = await startOk(server, server.tenant.admin, {
    targets: { ids: targets.slice(0, 3) },
    action: toPending,
    scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
  });
  const cancel = await gql(server.graphqlUrl, server.tenant.admin.token, CANCEL, { id: later.id });
  expect(cancel.data.cancelBulkOperation.userErrors).toEqual([]);

  const expected = [
    [now.dbId, "bulk_operation.started"],
    [now.dbId, "bulk_operation.finished"],
    [soon.dbId, "bulk_operation.scheduled"],
    [soon.dbId, "bulk_operation.started"],
    [soon.dbId, "bulk_operation.finished"],
    [later.dbId, "bulk_operation.scheduled"],
    [later.dbId, "bulk_operation.cancelled"],
  ].map(([op, type]) => `${op} ${type}`).sort();
  await waitUntil(() => verified.length >= expected.length, `${expected.length} verified events`, 60_000);
  expect(verified.map((v) => `${v.operationId} ${v.type}`).sort()).toEqual(expected);
  expect(new Set(verified.map((v) => v.webhookId)).size).toBe(expected.length);
  expect(receiver.requests.length).toBe(expected.length); // none rejected, none sent twice

  const finishedEvent = verified.find((v) => v.operationId === now.dbId && v.type === "bulk_operation.finished")!;
  expect(finishedEvent.webhookId).toMatch(/^msg_[0-9a-f]{32}$/);
  expect(Date.parse(finishedEvent.payload.timestamp)).toBeGreaterThan(Date.now() - 120_000);
  const row = await operation(server.db, now.dbId);
  expect(finishedEvent.payload.data.operation).toMatchObject({
    id: now.dbId,
    kind: "STANDARD",
    action: "SET_STATUS",
    status: row.status,
    counts: {
      total: 11,
      succeeded: row.succeeded,
      failed: row.failed,
      skipped: row.skipped,
      cancelled: 0,
      pending: 0,
    },
  });
  expect(row.failed).toBeGreaterThanOrEqual(1);
  expect(finishedEvent.payload.data.operation.errorSummary).toEqual(
    Object.entries(row.error_counts).map(([code, count]) => ({ code, count }))
      .sort((a, b) => b.count - a.count || (a.code < b.code ? -1 : 1)),
  );
  expect(finishedEvent.payload.data.operation.errorSummary).toContainEqual({ code: "NOT_FOUND", count: 1 });
  expect(finishedEvent.payload.data.links).toEqual({
    graphqlId: now.id,
    graphql: "https://bulk.example/graphql",
    downloads: {
      csv: `https://bulk.example/bulk-operations/${now.dbId}/items.csv`,
      jsonl: `https://bulk.example/bulk-operations/${now.dbId}/items.jsonl`,
    },
  });
  const cancelled = verified.find((v) => v.type === "bulk_operation.cancelled")!;
  expect(cancelled.payload.data.operation).toMatchObject({ status: "CANCELLED", counts: { cancelled: 3 } });

  // The receiver answered before the deliverer recorded it: wait for the records.
  const deliveries = await waitUntil(async () => {
    const view = await endpointDeliveries(server, server.tenant.admin, endpoint.id);
    return view.deliveries.every((d) => d.status !== "PENDING") && view.deliveries;
  }, "every delivery recorded");
  expect(deliveries.length).toBe(expected.length);
  for (const delivery of deliveries) {
    expect(delivery).toMatchObject({ status: "DELIVERED", attempts: 1, lastStatusCode: 200, lastError: null });
    expect(delivery.deliveredAt).not.toBeNull();
    expect(delivery.nextAttemptAt).toBeNull();
  }

  // Rotation: the old secret keeps verifying during the overlap, the new one verifies too.
  const rotated = await gql(server.graphqlUrl, server.tenant.admin.token, ROTATE_SECRET, { id: endpoint.id });
  const newSecret: string = rotated.data.rotateWebhookSecret.secret;
  expect(newSecret).toMatch(/^whsec_/);
  expect(newSecret).not.toBe(endpoint.secret);
  expect(Date.parse(rotated.data.rotateWebhookSecret.webhookEndpoint.previousSecretExpiresAt))
    .toBeGreaterThan(Date.now() + 23 * 3_600_000);
  secrets.push(newSecret);
  const after = await startOk(server, server.tenant.admin, {
    targets: { ids: targets.slice(0, 2) },
    action: toPending,
  });
  const last = await receiver.waitFor(
    (r) => r.some((x) => x.body.includes(after.dbId) && x.body.includes("bulk_operation.finished")),
    "the finished event after the rotation",
    60_000,
  );
  const signed = last.find((x) => x.body.includes(after.dbId) && x.body.includes("finished"))!;
  expect(verifiedBy(signed, [endpoint.secret])).toEqual([endpoint.secret]);
  expect(verifiedBy(signed, [newSecret])).toEqual([newSecret]);
  expect(signed.headers["webhook-signature"].split(" ").length).toBe(2);
  // The secret is in no row, in clear: only its ciphertext is stored.
  const stored = await server.db.selectFrom("webhook_endpoints").select("secret_ciphertext")
    .executeTakeFirstOrThrow();
  expect(new TextDecoder().decode(stored.secret_ciphertext)).not.toContain(newSecret.slice(6, 20));
});

Deno.test("webhooks: a receiver failing 3 times gets retries with growing backoff and the same webhook-id; one delivery DELIVERED; redeliverWebhook", async () => {
  await using server = await startTestServer({ tickets: 5, env: { ...WEBHOOK_ENV, NOTIFY_RETRY_BASE_MS: "200" } });
  await using receiver = startReceiver((_r, index) => new Response(null, { status: index < 3 ? 503 : 200 }));
  const before = await scrape(`${server.url}/metrics`);
  const endpoint = await createAcceptedEndpoint(server, server.tenant.admin, {
    url: receiver.url,
    events: ["BULK_OPERATION_FINISHED"],
  });
  await startOk(server, server.tenant.admin, { targets: { ids: await ids(server, 5) }, action: toPending });
  const requests = await receiver.waitFor((r) => r.length >= 4, "4 attempts", 60_000);
  expect(new Set(requests.map((r) => r.headers["webhook-id"])).size).toBe(1);
  const gaps = requests.slice(1).map((r, i) => r.at - requests[i].at);
  console.log(`gaps between attempts: ${gaps.join(", ")} ms (base 200 ms, jitter 0.5-1.0)`);
  // base * 2^(n-1) * jitter >= base * 2^(n-1) / 2
  gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(100 * 2 ** i - 5));

  const delivered = await waitUntil(async () => {
    const { deliveries } = await endpointDeliveries(server, server.tenant.admin, endpoint.id);
    return deliveries[0]?.status === "DELIVERED" && deliveries;
  }, "the delivery recorded DELIVERED");
  expect(delivered.length).toBe(1);
  expect(delivered[0]).toMatchObject({ attempts: 4, lastStatusCode: 200, lastError: null, nextAttemptAt: null });
  expect(delivered[0].webhookId).toBe(requests[0].headers["webhook-id"]);
  expect(await deliveryResultsSince(server, before)).toEqual({ retry: 3, delivered: 1 });

  const again = await gql(server.graphqlUrl, server.tenant.admin.token, REDELIVER, { id: delivered[0].id });
  expect(again.data.redeliverWebhook.userErrors).toEqual([]);
  expect(again.data.redeliverWebhook.delivery).toMatchObject({
    webhookId: delivered[0].webhookId,
    status: "PENDING",
  });
  await receiver.waitFor((r) => r.length === 5, "the redelivery");
  expect(receiver.requests[4].headers["webhook-id"]).toBe(delivered[0].webhookId);
  await waitUntil(async () => {
    const { deliveries } = await endpointDeliveries(server, server.tenant.admin, endpoint.id);
    return deliveries.length === 2 && deliveries.every((d) => d.status === "DELIVERED");
  }, "both deliveries DELIVERED");
  expect(await deliveryResultsSince(server, before)).toEqual({ retry: 3, delivered: 2 });
});

Deno.test("webhooks: a receiver that never answers times out after WEBHOOK_TIMEOUT_MS; meanwhile chunks and other endpoints go on", async () => {
  // Long enough for a second operation to run and be delivered while the first POST hangs, on a loaded machine.
  await using server = await startTestServer({ tickets: 6, env: { ...WEBHOOK_ENV, WEBHOOK_TIMEOUT_MS: "30000" } });
  await using hanging = startReceiver(hang);
  await using healthy = startReceiver(() => new Response("ok"));
  const events = ["BULK_OPERATION_FINISHED"];
  const stuck = await createAcceptedEndpoint(server, server.tenant.admin, { url: hanging.url, events });
  await createAcceptedEndpoint(server, server.tenant.admin, { url: healthy.url, events });
  const targets = await ids(server, 6);
  await startOk(server, server.tenant.admin, { targets: { ids: targets.slice(0, 3) }, action: toPending });
  await hanging.waitFor((r) => r.length === 1, "the POST that will hang", 60_000);
  // While that POST hangs, a new operation runs to its end and the other endpoint hears of both.
  const second = await startOk(server, server.tenant.admin, {
    targets: { ids: targets.slice(3) },
    action: toPending,
  });
  await healthy.waitFor((r) => r.some((x) => x.body.includes(second.dbId)), "the second operation's event", 60_000);
  // The first operation's POST (the oldest delivery) is still waiting for its answer.
  const during = await endpointDeliveries(server, server.tenant.admin, stuck.id);
  expect(during.deliveries.at(-1)).toMatchObject({ attempts: 1, lastError: null, status: "PENDING" });

  const [delivery] = await waitUntil(
    async () => {
      const { deliveries } = await endpointDeliveries(server, server.tenant.admin, stuck.id);
      const first = deliveries.at(-1);
      return first?.lastError ? [first] : null;
    },
    "the timed-out attempt recorded",
    90_000,
  );
  expect(delivery).toMatchObject({ status: "PENDING", attempts: 1, lastStatusCode: null, deliveredAt: null });
  expect(delivery.lastError).toBe("no answer within 30000 ms (WEBHOOK_TIMEOUT_MS)");
  expect(Date.parse(delivery.nextAttemptAt!)).toBeGreaterThan(Date.now());
});

Deno.test("webhooks: 410 Gone disables at once, consecutive failures disable after WEBHOOK_MAX_CONSECUTIVE_FAILURES, redirects are not followed", async () => {
  await using server = await startTestServer({
    tickets: 3,
    env: { ...WEBHOOK_ENV, NOTIFY_RETRY_BASE_MS: "50", WEBHOOK_MAX_CONSECUTIVE_FAILURES: "3" },
  });
  await using gone = startReceiver(() => new Response("gone", { status: 410 }));
  await using failing = startReceiver(() => new Response("down", { status: 500 }));
  await using target = startReceiver(() => new Response("ok"));
  await using redirecting = startReceiver(() => Response.redirect(target.url, 302));
  const before = await scrape(`${server.url}/metrics`);
  const events = ["BULK_OPERATION_FINISHED"];
  const goneEndpoint = await createAcceptedEndpoint(server, server.tenant.admin, { url: gone.url, events });
  const failingEndpoint = await createAcceptedEndpoint(server, server.tenant.admin, { url: failing.url, events });
  const redirectEndpoint = await createAcceptedEndpoint(server, server.tenant.admin, { url: redirecting.url, events });
  await startOk(server, server.tenant.admin, { targets: { ids: await ids(server, 3) }, action: toPending });

  const disabled = async (id: string, reason: string) =>
    await waitUntil(
      async () => {
        const view = await endpointDeliveries(server, server.tenant.admin, id);
        return !view.endpoint.enabled && view;
      },
      `endpoint disabled (${reason})`,
      60_000,
    );
  const afterGone = await disabled(goneEndpoint.id, "410");
  expect(afterGone.endpoint.disabledReason).toBe("the endpoint answered 410 Gone");
  expect(afterGone.deliveries).toMatchObject([{ status: "FAILED", attempts: 1, lastStatusCode: 410 }]);
  expect(gone.requests.length).toBe(1);

  const afterFailures = await disabled(failingEndpoint.id, "3 failures");
  expect(afterFailures.endpoint.disabledReason).toBe("3 consecutive failed attempts");
  expect(afterFailures.deliveries).toMatchObject([{ status: "FAILED", attempts: 3, lastStatusCode: 500 }]);
  expect(failing.requests.length).toBe(3);

  const redirect = await waitUntil(async () => {
    const { deliveries } = await endpointDeliveries(server, server.tenant.admin, redirectEndpoint.id);
    return deliveries[0]?.lastStatusCode === 302 && deliveries[0];
  }, "the redirect recorded as a failed attempt");
  expect(redirect.lastError).toContain("HTTP 302");
  expect(target.requests.length).toBe(0);
  // A redirect is a failure like any other: the third one disables that endpoint too.
  await disabled(redirectEndpoint.id, "3 redirects");
  // Counted per recorded attempt: the 410 disabled at once; 500 and 302 each retried twice, then disabled.
  expect(await deliveryResultsSince(server, before)).toEqual({ retry: 4, disabled: 3 });

  // A disabled endpoint gets no new deliveries: the outbox only fans out to enabled ones.
  const second = await startOk(server, server.tenant.admin, {
    targets: { ids: await ids(server, 2) },
    action: toPending,
  });
  // The outbox is written by the transaction that finishes the operation: once it is
  // finished, every delivery it causes exists.
  await waitFor(server.db, second.dbId, finished, 60_000);
  const toDisabled = await server.db.selectFrom("notification_deliveries").select("id")
    .where("endpoint_id", "in", [goneEndpoint.id, failingEndpoint.id].map(endpointKey)).execute();
  expect(toDisabled.length).toBe(2); // the first operation's two, nothing for the second

  // Re-enabling clears the failure state.
  const enabled = await gql(server.graphqlUrl, server.tenant.admin.token, UPDATE_ENDPOINT, {
    input: { id: failingEndpoint.id, enabled: true },
  });
  expect(enabled.data.updateWebhookEndpoint.webhookEndpoint).toMatchObject({
    enabled: true,
    disabledReason: null,
    consecutiveFailures: 0,
  });
});

Deno.test("webhooks: private, loopback and link-local URLs are refused when WEBHOOK_ALLOW_PRIVATE_NETWORKS is off, at creation and at delivery", async () => {
  await using server = await startTestServer({
    tickets: 3,
    env: { WEBHOOK_SECRET_KEY: TEST_SECRET_KEY, WORKERS: "1", NOTIFY_POLL_MS: "50" },
  });
  await using receiver = startReceiver(() => new Response("ok"));
  const refused = [
    receiver.url,
    "http://localhost:9/x",
    "http://[::1]:9/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://169.254.169.254/latest/meta-data",
    "http://10.1.2.3/x",
    "http://192.168.0.10/x",
    "http://172.16.0.1/x",
    "http://[fe80::1]/x",
    "http://0.0.0.0/x",
  ];
  for (const url of refused) {
    const result = await gql(server.graphqlUrl, server.tenant.admin.token, CREATE_ENDPOINT, {
      input: { url, events: ALL_EVENTS },
    });
    expect({ url, ...result.data.createWebhookEndpoint }).toMatchObject({
      url,
      webhookEndpoint: null,
      secret: null,
      userErrors: [{ code: "UNSAFE_URL", field: ["input", "url"] }],
    });
  }
  for (const url of ["ftp://example.com/x", "file:///etc/passwd", "not a url", "http://user:pw@example.com/"]) {
    const result = await gql(server.graphqlUrl, server.tenant.admin.token, CREATE_ENDPOINT, {
      input: { url, events: ALL_EVENTS },
    });
    expect(result.data.createWebhookEndpoint.userErrors[0].code).toBe("UNSAFE_URL");
  }
  const empty = await gql(server.graphqlUrl, server.tenant.admin.token, CREATE_ENDPOINT, {
    input: { url: "https://example.com/x", events: [] },
  });
  expect(empty.data.createWebhookEndpoint.userErrors[0]).toMatchObject({ code: "INVALID_INPUT" });
  const long = await gql(server.graphqlUrl, server.tenant.admin.token, CREATE_ENDPOINT, {
    input: { url: `https://example.com/${"a".repeat(1990)}`, events: ALL_EVENTS },
  });
  expect(long.data.createWebhookEndpoint.userErrors[0]).toMatchObject({
    code: "INVALID_INPUT",
    field: ["input", "url"],
  });
  expect(await server.db.selectFrom("webhook_endpoints").select("id").execute()).toEqual([]);

  // At delivery: a stored URL whose host now resolves to loopback (as after DNS rebinding)
  // is checked again on the resolved address and not contacted.
  const id = crypto.randomUUID();
  const key = Uint8Array.from(atob(TEST_SECRET_KEY), (c) => c.charCodeAt(0));
  await server.db.insertInto("webhook_endpoints").values({
    id,
    tenant_id: server.tenant.id,
    created_by: server.tenant.admin.id,
    url: receiver.url,
    events: ["bulk_operation.finished"],
    secret_ciphertext: await encryptSecret(key, id, "whsec_" + btoa("0123456789abcdef01234567")),
  }).execute();
  await startOk(server, server.tenant.admin, { targets: { ids: await ids(server, 3) }, action: toPending });
  const delivery = await waitUntil(
    () =>
      server.db.selectFrom("notification_deliveries").selectAll().where("endpoint_id", "=", id)
        .where("last_error", "is not", null).executeTakeFirst(),
    "the refused delivery attempt",
  );
  expect(delivery.last_error).toContain("127.0.0.1, a private, loopback or link-local address");
  expect(delivery.status).toBe("PENDING");
  expect(receiver.requests.length).toBe(0);
});

Deno.test("webhooks: ADMIN only; another tenant's endpoints and deliveries are invisible and untouchable", async () => {
  await using server = await startTestServer({ tickets: 3, env: WEBHOOK_ENV });
  await using receiver = startReceiver(() => new Response("ok"));
  const mine = await createAcceptedEndpoint(server, server.tenant.admin, {
    url: receiver.url,
    events: ["BULK_OPERATION_FINISHED"],
    description: "tenant A",
  });
  await startOk(server, server.tenant.admin, { targets: { ids: await ids(server, 3) }, action: toPending });
  const [delivery] = await waitUntil(async () => {
    const { deliveries } = await endpointDeliveries(server, server.tenant.admin, mine.id);
    return deliveries[0]?.status === "DELIVERED" && deliveries;
  }, "tenant A's delivery");

  const NODE = `query($id: ID!) { node(id: $id) { id ... on WebhookDelivery { webhookId status } } }`;
  const own = await gql(server.graphqlUrl, server.tenant.admin.token, NODE, { id: delivery.id });
  expect(own.data.node).toEqual({ id: delivery.id, webhookId: delivery.webhookId, status: "DELIVERED" });
  for (const malformed of [encodeId("WebhookEndpoint", "not-a-uuid"), encodeId("WebhookDelivery", "x1")]) {
    const result = await gql(server.graphqlUrl, server.tenant.admin.token, NODE, { id: malformed });
    expect(result.errors?.[0]?.extensions?.code ?? null).not.toBe("INTERNAL_SERVER_ERROR");
    expect(result.data?.node ?? null).toBeNull();
  }
  const other = server.otherTenant.admin.token;
  expect((await gql(server.graphqlUrl, other, NODE, { id: delivery.id })).data.node).toBeNull();
  const list = await gql(server.graphqlUrl, other, ENDPOINTS, { first: 10 });
  expect(list.data.webhookEndpoints.edges).toEqual([]);
  const node = await gql(server.graphqlUrl, other, DELIVERIES, { id: mine.id });
  expect(node.data.node).toBeNull();
  for (
    const [query, variables, field] of [
      [UPDATE_ENDPOINT, { input: { id: mine.id, enabled: false } }, "updateWebhookEndpoint"],
      [ROTATE_SECRET, { id: mine.id }, "rotateWebhookSecret"],
      [DELETE_ENDPOINT, { id: mine.id }, "deleteWebhookEndpoint"],
      [REDELIVER, { id: delivery.id }, "redeliverWebhook"],
    ] as const
  ) {
    const result = await gql(server.graphqlUrl, other, query, variables);
    expect(result.data[field].userErrors[0].code).toBe("NOT_FOUND");
  }
  // Another tenant's operation sends nothing to tenant A's endpoint.
  const theirs = await createAcceptedEndpoint(server, server.otherTenant.admin, {
    url: receiver.url,
    events: ["BULK_OPERATION_FINISHED"],
  });
  const theirList = await gql(server.graphqlUrl, other, ENDPOINTS, { first: 10 });
  expect(theirList.data.webhookEndpoints.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([theirs.id]);

  // Agents and viewers see nothing of webhooks.
  for (const user of [server.tenant.agent, server.tenant.viewer]) {
    const denied = await gql(server.graphqlUrl, user.token, ENDPOINTS, { first: 10 });
    expect(denied.errors?.[0].extensions?.code).toBe("FORBIDDEN");
    const create = await gql(server.graphqlUrl, user.token, CREATE_ENDPOINT, {
      input: { url: receiver.url, events: ALL_EVENTS },
    });
    expect(create.errors?.[0].extensions?.code).toBe("FORBIDDEN");
  }
  const mineNow = await endpointDeliveries(server, server.tenant.admin, mine.id);
  expect(mineNow.endpoint.enabled).toBe(true);
  expect(mineNow.deliveries.length).toBe(1);
  // Updates: only the fields given change; bad input changes nothing.
  const admin = server.tenant.admin.token;
  const changed = await gql(server.graphqlUrl, admin, UPDATE_ENDPOINT, {
    input: { id: mine.id, events: ["BULK_OPERATION_STARTED", "BULK_OPERATION_STARTED"], description: "renamed" },
  });
  expect(changed.data.updateWebhookEndpoint).toMatchObject({
    webhookEndpoint: { url: receiver.url, events: ["BULK_OPERATION_STARTED"], description: "renamed", enabled: true },
    secret: null,
    userErrors: [],
  });
  for (
    const input of [
      { id: mine.id, events: [] },
      { id: mine.id, description: "x".repeat(501) },
      { id: mine.id, url: "gopher://example.com/" },
      { id: "not-an-id", enabled: false },
    ]
  ) {
    const refused = await gql(server.graphqlUrl, admin, UPDATE_ENDPOINT, { input });
    expect(refused.data.updateWebhookEndpoint.webhookEndpoint).toBeNull();
    expect(["INVALID_INPUT", "UNSAFE_URL"]).toContain(refused.data.updateWebhookEndpoint.userErrors[0].code);
  }
  const unchanged = await gql(server.graphqlUrl, admin, ENDPOINTS, { first: 1 });
  expect(unchanged.data.webhookEndpoints.edges[0].node).toMatchObject({
    url: receiver.url,
    events: ["BULK_OPERATION_STARTED"],
    description: "renamed",
  });
  // The connection pages (Relay, keyset).
  const second = await createAcceptedEndpoint(server, server.tenant.admin, { url: receiver.url, events: ALL_EVENTS });
  expect(unchanged.data.webhookEndpoints.pageInfo.hasNextPage).toBe(false);
  const page1 = await gql(server.graphqlUrl, admin, ENDPOINTS, { first: 1 });
  expect(page1.data.webhookEndpoints.pageInfo.hasNextPage).toBe(true);
  const page2 = await gql(server.graphqlUrl, admin, ENDPOINTS, {
    first: 1,
    after: page1.data.webhookEndpoints.pageInfo.endCursor,
  });
  expect(page2.data.webhookEndpoints.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([second.id]);
  expect(page2.data.webhookEndpoints.pageInfo.hasNextPage).toBe(false);

  const deleted = await gql(server.graphqlUrl, server.tenant.admin.token, DELETE_ENDPOINT, { id: mine.id });
  expect(deleted.data.deleteWebhookEndpoint).toEqual({ deletedWebhookEndpointId: mine.id, userErrors: [] });
});

Deno.test("webhooks: without WEBHOOK_SECRET_KEY endpoints cannot be created (WEBHOOKS_NOT_CONFIGURED)", async () => {
  await using server = await startTestServer({ env: { WORKERS: "0" } });
  const result = await gql(server.graphqlUrl, server.tenant.admin.token, CREATE_ENDPOINT, {
    input: { url: "https://example.com/hook", events: ALL_EVENTS },
  });
  expect(result.data.createWebhookEndpoint.userErrors[0].code).toBe("WEBHOOKS_NOT_CONFIGURED");
  expect(await server.db.selectFrom("webhook_endpoints").select("id").execute()).toEqual([]);
});
