/**
 * A process delivers only what its configuration can send: one without WEBHOOK_SECRET_KEY
 * leaves webhook deliveries alone, one whose key cannot decrypt the endpoint's secret
 * releases them unsent, and neither counts against the tenant's endpoint. A process with the
 * right key then delivers. Real `deno task worker` processes against one database.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { startOk, ticketGid } from "./helpers/api.ts";
import { finished, ticketIds, waitFor } from "./helpers/bulk.ts";
import { scrape, valueOf } from "./helpers/prometheus.ts";
import { startReceiver, waitUntil } from "./helpers/receivers.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { createAcceptedEndpoint, endpointKey, TEST_SECRET_KEY, WEBHOOK_ENV } from "./helpers/webhooks.ts";
import { spawnWorker } from "./helpers/worker_process.ts";

const OTHER_SECRET_KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(9)));
const POLL_MS = 50;

const workerEnv = (server: TestServer, key: string) => ({
  DATABASE_URL: server.databaseUrl,
  WORKERS: "1",
  BULK_POLL_MS: "100",
  NOTIFY_POLL_MS: String(POLL_MS),
  NOTIFY_RETRY_BASE_MS: "200",
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: "1",
  WEBHOOK_SECRET_KEY: key,
  SMTP_URL: "",
});

/** Starts an operation on the first `n` tickets and waits for its end (a worker process must run it). */
async function finishedOperation(server: TestServer, n: number): Promise<void> {
  const ids = (await ticketIds(server.db, server.tenant.id)).slice(0, n);
  const op = await startOk(server, server.tenant.admin, {
    targets: { ids: ids.map(ticketGid) },
    action: { setStatus: { status: "PENDING" } },
  });
  await waitFor(server.db, op.dbId, finished, 60_000);
}

Deno.test("deliveries: a process without the webhook key claims none; one with another key releases them unsent; the endpoint is not blamed", async () => {
  // The API has no workers, so it runs no deliverer: only the worker processes below deliver.
  await using server = await startTestServer({ tickets: 3, env: { ...WEBHOOK_ENV, WORKERS: "0" } });
  await using receiver = startReceiver(() => new Response("ok"));
  const endpoint = await createAcceptedEndpoint(server, server.tenant.admin, {
    url: receiver.url,
    events: ["BULK_OPERATION_FINISHED"],
  });
  const delivery = () =>
    server.db.selectFrom("notification_deliveries").select(["attempts", "status", "last_error"])
      .where("endpoint_id", "=", endpointKey(endpoint.id)).executeTakeFirst();
  const failures =
    async () => (await server.db.selectFrom("webhook_endpoints").select(["consecutive_failures", "enabled"])
      .where("id", "=", endpointKey(endpoint.id)).executeTakeFirstOrThrow());

  // 1. No key: the process runs the chunks (and so writes the delivery) but never claims it.
  await using keyless = await spawnWorker(workerEnv(server, ""));
  await finishedOperation(server, 3);
  expect(await delivery()).toMatchObject({ status: "PENDING", attempts: 0, last_error: null });
  // A negative needs some time: 40 of its deliverer's polls would have claimed it many times over.
  await new Promise((resolve) => setTimeout(resolve, 40 * POLL_MS));
  expect(await delivery()).toMatchObject({ status: "PENDING", attempts: 0, last_error: null });
  expect(valueOf(await scrape(keyless.metricsUrl), "notification_deliveries_total")).toBe(0);
  keyless.signal("SIGTERM");
  expect((await keyless.exited).code).toBe(0);

  // 2. Another key: claimed, cannot be signed, released without an attempt or a failure.
  await using wrongKey = await spawnWorker(workerEnv(server, OTHER_SECRET_KEY));
  const released = await waitUntil(
    async () => {
      const row = await delivery();
      return row?.last_error ? row : undefined;
    },
    "the wrongly keyed process to release the delivery",
    30_000,
  );
  expect(released.last_error).toContain("cannot decrypt");
  expect(released).toMatchObject({ status: "PENDING", attempts: 0 });
  expect(await failures()).toEqual({ consecutive_failures: 0, enabled: true });
  expect(valueOf(await scrape(wrongKey.metricsUrl), "notification_deliveries_total", { result: "released" }))
    .toBeGreaterThanOrEqual(1);
  expect(receiver.requests.length).toBe(0);
  wrongKey.signal("SIGTERM");
  expect((await wrongKey.exited).code).toBe(0);
  expect(await failures()).toEqual({ consecutive_failures: 0, enabled: true });

  // 3. The right key delivers it, on its first attempt.
  await using keyed = await spawnWorker(workerEnv(server, TEST_SECRET_KEY));
  await receiver.waitFor((r) => r.length === 1, "the delivery by the keyed process", 30_000);
  const delivered = await waitUntil(async () => {
    const row = await delivery();
    return row?.status === "DELIVERED" ? row : undefined;
  }, "the delivery recorded DELIVERED");
  expect(delivered).toMatchObject({ attempts: 1, last_error: null });
  const samples = await scrape(keyed.metricsUrl);
  expect(valueOf(samples, "notification_deliveries_total", { channel: "webhook", result: "delivered" })).toBe(1);
  expect(valueOf(samples, "notification_deliveries_total")).toBe(1);
});

Deno.test("deliveries: one still pending when its 24 h retry window has passed ends FAILED at its claim, unsent", async () => {
  await using server = await startTestServer({ tickets: 2, env: { ...WEBHOOK_ENV, WORKERS: "0" } });
  await using receiver = startReceiver(() => new Response("ok"));
  const endpoint = await createAcceptedEndpoint(server, server.tenant.admin, {
    url: receiver.url,
    events: ["BULK_OPERATION_FINISHED"],
  });
  await using keyless = await spawnWorker(workerEnv(server, "")); // runs the chunks, sends nothing
  await finishedOperation(server, 2);
  keyless.signal("SIGTERM");
  expect((await keyless.exited).code).toBe(0);
  // As if no process could send it for a day (the window is on the database's clock, as created_at is).
  const aged = await server.db.updateTable("notification_deliveries")
    .set({ created_at: sql`now() - interval '25 hours'` })
    .where("endpoint_id", "=", endpointKey(endpoint.id)).where("status", "=", "PENDING").executeTakeFirst();
  expect(aged.numUpdatedRows).toBe(1n);

  await using keyed = await spawnWorker(workerEnv(server, TEST_SECRET_KEY));
  const ended = await waitUntil(
    async () => {
      const row = await server.db.selectFrom("notification_deliveries").select(["status", "attempts", "last_error"])
        .where("endpoint_id", "=", endpointKey(endpoint.id)).executeTakeFirstOrThrow();
      return row.status !== "PENDING" ? row : undefined;
    },
    "the expired delivery to end",
    30_000,
  );
  expect(ended).toEqual({ status: "FAILED", attempts: 0, last_error: "retry window (24 h) ended" });
  expect(receiver.requests.length).toBe(0);
  const samples = await scrape(keyed.metricsUrl);
  expect(valueOf(samples, "notification_deliveries_total", { channel: "webhook", result: "failed" })).toBe(1);
});
