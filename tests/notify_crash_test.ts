/**
 * The outbox survives a crash: a `deno task worker` process finishes an operation (the
 * finished event commits with that chunk), starts delivering, and is SIGKILLed while the
 * POST is in flight. Another worker process re-sends it once the claim's lease expires,
 * with the same webhook-id: the deduping receiver processes the event exactly once, and the
 * delivery ends DELIVERED (never lost, never invented twice).
 */
import { expect } from "expect";
import { startOk, ticketGid } from "./helpers/api.ts";
import { finished, operation, ticketIds } from "./helpers/bulk.ts";
import { hang, startReceiver, waitUntil } from "./helpers/receivers.ts";
import { startTestServer } from "./helpers/server.ts";
import { createAcceptedEndpoint, endpointKey, TEST_SECRET_KEY } from "./helpers/webhooks.ts";
import { spawnWorker } from "./helpers/worker_process.ts";

Deno.test("webhooks: a worker SIGKILLed between the state change and the delivery; the event is delivered exactly once per webhook-id", async () => {
  const env = {
    WEBHOOK_SECRET_KEY: TEST_SECRET_KEY,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: "1",
    NOTIFY_POLL_MS: "50",
    WEBHOOK_TIMEOUT_MS: "1500",
  };
  // No workers (so no deliverer) in the API process: only the worker processes deliver.
  await using server = await startTestServer({ tickets: 5, env: { ...env, WORKERS: "0" } });
  const processed = new Set<string>();
  let firstArrived = false;
  await using receiver = startReceiver((request, index) => {
    if (index === 0) {
      firstArrived = true;
      return hang(); // the worker dies while this POST waits
    }
    processed.add(request.headers["webhook-id"]); // a deduping receiver: a repeat is acknowledged, not re-processed
    return new Response("ok");
  });
  const endpoint = await createAcceptedEndpoint(server, server.tenant.admin, {
    url: receiver.url,
    events: ["BULK_OPERATION_FINISHED"],
  });
  const workerEnv = { ...env, DATABASE_URL: server.databaseUrl, WORKERS: "1" };
  await using first = await spawnWorker(workerEnv);
  const ids = (await ticketIds(server.db, server.tenant.id)).map(ticketGid);
  const op = await startOk(server, server.tenant.admin, {
    targets: { ids },
    action: { setStatus: { status: "PENDING" } },
  });
  await waitUntil(() => firstArrived, "the first delivery attempt", 60_000);
  // The state change and its event are committed; the delivery is claimed but not recorded.
  expect(finished(await operation(server.db, op.dbId))).toBe(true);
  const claimed = await server.db.selectFrom("notification_deliveries").selectAll().executeTakeFirstOrThrow();
  expect(claimed).toMatchObject({ status: "PENDING", attempts: 1, delivered_at: null });

  first.signal("SIGKILL");
  await first.exited;
  await using _second = await spawnWorker(workerEnv);
  await receiver.waitFor((r) => r.length >= 2, "the re-sent delivery after the lease expired", 60_000);
  const delivered = await waitUntil(
    () =>
      server.db.selectFrom("notification_deliveries").selectAll().where("status", "=", "DELIVERED")
        .executeTakeFirst(),
    "the delivery recorded DELIVERED",
  );
  expect(delivered).toMatchObject({ attempts: 2, endpoint_id: endpointKey(endpoint.id) });
  const webhookIds = receiver.requests.map((r) => r.headers["webhook-id"]);
  expect(new Set(webhookIds).size).toBe(1);
  expect([...processed]).toEqual([webhookIds[0]]);
  // Exactly one event and one delivery: the crash invented nothing.
  const events = await server.db.selectFrom("notification_events").selectAll()
    .where("operation_id", "=", op.dbId).where("type", "=", "bulk_operation.finished").execute();
  expect(events.map((e) => e.id)).toEqual([webhookIds[0]]);
  expect((await server.db.selectFrom("notification_deliveries").select("id").execute()).length).toBe(1);
});
