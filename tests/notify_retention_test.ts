/** Pruning the outbox history: old events go with their deliveries, unless one is still pending. */
import { expect } from "expect";
import { sql } from "kysely";
import { pruneNotifications } from "../src/notify/retention.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("retention: events older than NOTIFY_RETENTION_DAYS are pruned with their deliveries; pending ones are kept", async () => {
  await using server = await startTestServer({ env: { WORKERS: "0" } });
  const event = async (id: string, ageDays: number, status: "DELIVERED" | "FAILED" | "PENDING") => {
    await server.db.insertInto("notification_events").values({
      id,
      tenant_id: server.tenant.id,
      operation_id: null,
      type: "bulk_operation.finished",
      payload: "{}",
      created_at: sql`now() - make_interval(days => ${ageDays})` as never,
    }).execute();
    await server.db.insertInto("notification_deliveries").values({
      event_id: id,
      tenant_id: server.tenant.id,
      channel: "EMAIL",
      recipient: server.tenant.admin.email,
      status,
    }).execute();
  };
  await event("msg_old_delivered", 40, "DELIVERED");
  await event("msg_old_failed", 31, "FAILED");
  await event("msg_old_pending", 40, "PENDING");
  await event("msg_recent", 5, "DELIVERED");

  expect(await pruneNotifications(server.db, 30)).toBe(2);
  const events = await server.db.selectFrom("notification_events").select("id").orderBy("id").execute();
  expect(events.map((e) => e.id)).toEqual(["msg_old_pending", "msg_recent"]);
  const deliveries = await server.db.selectFrom("notification_deliveries").select("event_id").orderBy("event_id")
    .execute();
  expect(deliveries.map((d) => d.event_id)).toEqual(["msg_old_pending", "msg_recent"]);
  expect(await pruneNotifications(server.db, 30)).toBe(0);
});
