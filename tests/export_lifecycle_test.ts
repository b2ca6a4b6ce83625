/**
 * What happens to an export's file after the export: cancelled midway (no file), expired by
 * EXPORT_RETENTION_DAYS (the sweep with an injected clock), deleted early by
 * deleteBulkExport; in each case the download says why, and the operation and its ledger stay.
 */
import { expect } from "expect";
import { sql } from "kysely";
import type { Db } from "../src/db/database.ts";
import { expireExports } from "../src/exports/retention.ts";
import { runChunks } from "./helpers/bulk.ts";
import { download, exportOf, startExport, uuidOf, waitExported } from "./helpers/exports.ts";
import { gql } from "./helpers/graphql.ts";
import { startReceiver } from "./helpers/receivers.ts";
import { startTestServer } from "./helpers/server.ts";
import { ALL_EVENTS, createAcceptedEndpoint, WEBHOOK_ENV } from "./helpers/webhooks.ts";

const DAY = 86_400_000;

async function counts(db: Db, globalId: string) {
  const { rows: [row] } = await sql<{ parts: number; items: number; removals: number }>`SELECT
    (SELECT count(*) FROM bulk_operation_parts WHERE operation_id = ${uuidOf(globalId)})::int AS parts,
    (SELECT count(*) FROM bulk_operation_ledger WHERE operation_id = ${uuidOf(globalId)})::int AS items,
    (SELECT count(*) FROM bulk_export_removals WHERE operation_id = ${uuidOf(globalId)})::int AS removals`
    .execute(db);
  return row;
}

async function refusal(response: Response) {
  return { status: response.status, code: (await response.json()).code };
}

Deno.test("export cancelled midway: the download says cancelled; the parts written stay unserved", async () => {
  await using server = await startTestServer({
    tickets: 23,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: "5", BULK_EXPORT_CHUNK_SIZE: "5" },
  });
  const token = server.tenant.agent.token;
  const id = await startExport(server, token, { targets: { filter: {} }, format: "CSV" });
  expect(await runChunks(server, 2)).toBe(2);
  const cancel = await gql(
    server.graphqlUrl,
    token,
    `mutation($input: BulkOperationIdInput!) { cancelBulkOperation(input: $input) { userErrors { code } } }`,
    { input: { id } },
  );
  expect(cancel.data.cancelBulkOperation.userErrors).toEqual([]);
  await runChunks(server);
  const done = await waitExported(server, id);
  expect(done).toMatchObject({ status: "CANCELLED", succeeded: 10, cancelled: 13 });
  expect(await refusal(await download(server, token, id))).toEqual({ status: 410, code: "EXPORT_CANCELLED" });
  expect((await exportOf(server, token, id)).export).toMatchObject({ state: "CANCELLED", url: null, rows: null });
  expect(await counts(server.db, id)).toEqual({ parts: 2, items: 23, removals: 0 });
});

Deno.test("export retention: the file goes EXPORT_RETENTION_DAYS after the export finished (injected clock)", async () => {
  await using server = await startTestServer({
    tickets: 12,
    env: { WORKERS: "1", BULK_CHUNK_SIZE: "5", BULK_EXPORT_CHUNK_SIZE: "5", BULK_POLL_MS: "50" },
  });
  const token = server.tenant.agent.token;
  const id = await startExport(server, token, { targets: { filter: {} }, format: "JSONL" });
  const done = await waitExported(server, id);
  expect(done.status).toBe("COMPLETED");
  const finishedAt = new Date(done.finished_at!).getTime();
  const expiresAt = finishedAt + server.config.exportRetentionDays * DAY;
  expect(server.config.exportRetentionDays).toBe(7);
  expect((await exportOf(server, token, id)).export.expiresAt).toBe(new Date(expiresAt).toISOString());

  const retention = { retentionDays: server.config.exportRetentionDays };
  expect(await expireExports(server.db, { ...retention, now: new Date(expiresAt - 60_000) })).toBe(0);
  expect(await counts(server.db, id)).toEqual({ parts: 3, items: 12, removals: 0 });
  expect((await download(server, token, id)).status).toBe(200);

  const sweptAt = new Date(expiresAt + 60_000);
  expect(await expireExports(server.db, { ...retention, now: sweptAt })).toBe(1);
  expect(await expireExports(server.db, { ...retention, now: sweptAt })).toBe(0);
  expect(await counts(server.db, id)).toEqual({ parts: 0, items: 12, removals: 1 });
  expect(await refusal(await download(server, token, id))).toEqual({ status: 410, code: "EXPORT_EXPIRED" });
  const view = await exportOf(server, token, id);
  expect(view.status).toBe("COMPLETED");
  expect(view.counts).toEqual({ total: 12, succeeded: 12, failed: 0 });
  expect(view.export).toMatchObject({ state: "EXPIRED", url: null, removedAt: sweptAt.toISOString() });
});

Deno.test("deleteBulkExport: creator or admin, finished exports only, typed refusals, download says deleted; no rollback", async () => {
  await using server = await startTestServer({
    tickets: 12,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: "5", BULK_EXPORT_CHUNK_SIZE: "5" },
  });
  const { agent, admin, viewer } = server.tenant;
  const remove = async (token: string, id: string) =>
    (await gql(
      server.graphqlUrl,
      token,
      `mutation($input: BulkOperationIdInput!) {
          deleteBulkExport(input: $input) { bulkOperation { export { state } } userErrors { code } } }`,
      { input: { id } },
    )).data.deleteBulkExport;
  const id = await startExport(server, agent.token, { targets: { filter: {} }, format: "CSV" });
  expect((await remove(agent.token, id)).userErrors).toEqual([{ code: "EXPORT_NOT_READY" }]);
  await runChunks(server);
  expect((await waitExported(server, id)).status).toBe("COMPLETED");

  const rollback = await gql(
    server.graphqlUrl,
    agent.token,
    `mutation($input: RollbackBulkOperationInput!) { rollbackBulkOperation(input: $input) { userErrors { code } } }`,
    { input: { id } },
  );
  expect(rollback.data.rollbackBulkOperation.userErrors).toEqual([{ code: "NOTHING_TO_ROLL_BACK" }]);
  expect((await remove(viewer.token, id)).userErrors).toEqual([{ code: "FORBIDDEN" }]);
  expect((await remove(server.otherTenant.admin.token, id)).userErrors).toEqual([{ code: "NOT_FOUND" }]);
  const change = await gql(
    server.graphqlUrl,
    agent.token,
    `mutation($input: StartBulkOperationInput!) {
      startBulkOperation(input: $input) { bulkOperation { id } } }`,
    {
      input: { targets: { filter: {} }, action: { setPriority: { priority: "HIGH" } } },
    },
  );
  expect((await remove(agent.token, change.data.startBulkOperation.bulkOperation.id)).userErrors)
    .toEqual([{ code: "NOT_AN_EXPORT" }]);
  expect(await counts(server.db, id)).toEqual({ parts: 3, items: 12, removals: 0 });

  expect(await remove(admin.token, id)).toEqual({ bulkOperation: { export: { state: "DELETED" } }, userErrors: [] });
  expect(await remove(agent.token, id)).toEqual({ bulkOperation: { export: { state: "DELETED" } }, userErrors: [] });
  expect(await counts(server.db, id)).toEqual({ parts: 0, items: 12, removals: 1 });
  expect(await refusal(await download(server, agent.token, id))).toEqual({ status: 410, code: "EXPORT_DELETED" });
  const events = await server.db.selectFrom("bulk_operation_events").select(["type", "actor_id"])
    .where("operation_id", "=", uuidOf(id)).where("type", "=", "EXPORT_DELETED").execute();
  expect(events).toEqual([{ type: "EXPORT_DELETED", actor_id: admin.id }]);
});

Deno.test("export.ready: a webhook with the file's link once the export finished, none for a cancelled one", async () => {
  await using server = await startTestServer({
    tickets: 12,
    env: {
      ...WEBHOOK_ENV,
      BULK_CHUNK_SIZE: "5",
      BULK_EXPORT_CHUNK_SIZE: "5",
      BULK_POLL_MS: "50",
      PUBLIC_URL: "https://bulk.example",
    },
  });
  await using receiver = startReceiver(() => new Response("ok"));
  await createAcceptedEndpoint(server, server.tenant.admin, { url: receiver.url, events: ALL_EVENTS });
  const token = server.tenant.agent.token;
  const id = await startExport(server, token, { targets: { filter: {} }, format: "CSV", compression: "GZIP" });
  const bodies = async (what: string) =>
    (await receiver.waitFor(
      (requests) => requests.some((r) => JSON.parse(r.body).type === what),
      `the receiver gets ${what}`,
      30_000,
    )).map((r) => JSON.parse(r.body));
  const ready = (await bodies("export.ready")).find((b) => b.type === "export.ready");
  expect(ready.data.operation).toMatchObject({ id: uuidOf(id), action: "EXPORT", status: "COMPLETED" });
  expect(ready.data.links.downloads.export).toBe(`https://bulk.example/bulk-operations/${uuidOf(id)}/export`);
  // The link is the download route (under PUBLIC_URL); here it answers on the test server.
  const file = await download(server, token, id);
  expect(file.status).toBe(200);
  await file.body?.cancel();

  const cancelled = await startExport(server, token, {
    targets: { filter: {} },
    format: "CSV",
    scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
  });
  await gql(
    server.graphqlUrl,
    token,
    `mutation($input: BulkOperationIdInput!) { cancelBulkOperation(input: $input) { userErrors { code } } }`,
    { input: { id: cancelled } },
  );
  // Deliveries are separate attempts and arrive in any order (webhooks promise no order): wait for both, then
  // compare the set (no export.ready among them).
  const typesOf = (requests: { body: string }[]) =>
    requests.map((r) => JSON.parse(r.body)).filter((b) => b.data.operation.id === uuidOf(cancelled))
      .map((b): string => b.type).sort();
  const types = typesOf(
    await receiver.waitFor(
      (requests) =>
        typesOf(requests).includes("bulk_operation.scheduled") &&
        typesOf(requests).includes("bulk_operation.cancelled"),
      "the receiver gets the cancelled export's scheduled and cancelled events",
      30_000,
    ),
  );
  expect(types).toEqual(["bulk_operation.cancelled", "bulk_operation.scheduled"]);
});

Deno.test("export whose chunk gave up: the download says EXPORT_FAILED rather than serve a file without its rows", async () => {
  await using server = await startTestServer({
    tickets: 12,
    env: {
      WORKERS: "1",
      BULK_CHUNK_SIZE: "5",
      BULK_EXPORT_CHUNK_SIZE: "5",
      BULK_POLL_MS: "50",
      BULK_MAX_ATTEMPTS: "1",
    },
  });
  // Chunk 1's part can never be written: that chunk ends FAILED/INTERNAL after its one attempt.
  await sql`CREATE FUNCTION refuse_part() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'disk full (test)'; END $$`.execute(server.db);
  await sql`CREATE TRIGGER refuse_part BEFORE INSERT ON bulk_operation_parts FOR EACH ROW
      WHEN (NEW.chunk_index = 1) EXECUTE FUNCTION refuse_part()`.execute(server.db);
  const token = server.tenant.agent.token;
  const id = await startExport(server, token, { targets: { filter: {} }, format: "CSV" });
  const done = await waitExported(server, id);
  expect(done).toMatchObject({ status: "COMPLETED_WITH_ERRORS", succeeded: 7, failed: 5 });
  expect(done.error_counts).toEqual({ INTERNAL: 5 });
  expect(await counts(server.db, id)).toEqual({ parts: 2, items: 12, removals: 0 });
  expect(await refusal(await download(server, token, id))).toEqual({ status: 410, code: "EXPORT_FAILED" });
  expect((await exportOf(server, token, id)).export).toMatchObject({ state: "FAILED", url: null, bytes: null });
});
