/**
 * Issue 9.7: retention. Finished operations older than BULK_RETENTION_DAYS go with their
 * items, events and jobs (in batches); lineage is kept until the youngest child ages out;
 * comments keep their operation's id, so the one-comment-per-ticket-per-operation key still
 * holds; active operations stay. The clock is injected (purgeExpired's `now`); the last test
 * shows the pool's maintenance tick running it. Real PostgreSQL, real worker pool.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { retryFailedItems, rollbackOperation } from "../src/bulk/lineage.ts";
import type { OperationRow } from "../src/bulk/operation.ts";
import { claimJob } from "../src/bulk/queue/claim.ts";
import { purgeExpired, type RetentionResult } from "../src/bulk/retention.ts";
import { runChunk } from "../src/bulk/run-chunk.ts";
import { startPool } from "../src/bulk/start-pool.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { loadViewer, start, ticketIds, waitFor } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { connectClient } from "./helpers/pg_client.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { waitUntil, within } from "./helpers/wait.ts";

/** The start limits of the retries and rollbacks these tests start through lineage.ts. */
const LINEAGE_LIMITS = {
  maxTargets: 1000,
  chunkSize: 5,
  maxActivePerUser: 10,
  maxStartsPerMinute: 1000,
  maxWaitingPerUser: 1000,
};

const DAY = 86_400_000;

async function runAll(server: TestServer): Promise<void> {
  for (;;) {
    const job = await claimJob(server.db, "retention-test", 60_000);
    if (!job) return;
    await runChunk(server.db, ticketsDomain, job);
  }
}

async function finished(server: TestServer, actionType: string, params: unknown, ids: string[]) {
  const op = await start(server, server.tenant.admin, { actionType, params, targets: { kind: "ids", ids } });
  await runAll(server);
  return await expectConsistent(server.db, op.id);
}

async function endedDaysAgo(server: TestServer, op: OperationRow, days: number): Promise<void> {
  await sql`UPDATE bulk_operations SET finished_at = now() - ${days} * interval '1 day' WHERE id = ${op.id}`
    .execute(server.db);
}

/** Rows left of an operation in each table. */
async function rowsOf(server: TestServer, op: OperationRow) {
  const { rows: [row] } = await sql<Record<string, number>>`SELECT
    (SELECT count(*) FROM bulk_operations WHERE id = ${op.id})::int AS operations,
    (SELECT count(*) FROM bulk_operation_ledger WHERE operation_id = ${op.id})::int AS items,
    (SELECT count(*) FROM bulk_operation_events WHERE operation_id = ${op.id})::int AS events,
    (SELECT count(*) FROM bulk_jobs WHERE operation_id = ${op.id})::int AS jobs`.execute(server.db);
  return row;
}
const gone = { operations: 0, items: 0, events: 0, jobs: 0 };

Deno.test("retention deletes finished operations past BULK_RETENTION_DAYS, in batches, keeping lineage and comments", async () => {
  await using server = await startTestServer({ tickets: 60, env: { WORKERS: "0", BULK_CHUNK_SIZE: "5" } });
  const { db, tenant } = server;
  const ids = await ticketIds(db, tenant.id);
  await sql`UPDATE tickets SET status = 'OPEN', deleted_at = NULL`.execute(db);
  const commented = await finished(server, "ADD_COMMENT", { body: "kept after retention" }, ids.slice(0, 12));
  const recent = await finished(server, "SET_PRIORITY", { priority: "HIGH" }, ids.slice(12, 20));
  // A parent with a young retry: the parent is old, the child is not.
  await sql`UPDATE tickets SET status = 'CLOSED' WHERE id = ANY(${ids.slice(20, 25)}::bigint[])`.execute(db);
  const parent = await finished(server, "SET_CATEGORY", { category: "BILLING" }, ids.slice(20, 30));
  expect(parent.failed).toBe(5);
  await sql`UPDATE tickets SET status = 'OPEN' WHERE id = ANY(${ids.slice(20, 25)}::bigint[])`.execute(db);
  const viewer = await loadViewer(db, tenant.admin);
  const child = (await retryFailedItems(db, ticketsDomain, viewer, parent.id, { limits: LINEAGE_LIMITS })).operation;
  await runAll(server);
  await waitFor(db, child.id, (op) => op.finished_at !== null);
  const waiting = await start(server, tenant.admin, {
    actionType: "SET_PRIORITY",
    params: { priority: "LOW" },
    targets: { kind: "ids", ids: ids.slice(30, 40) },
    scheduledAt: new Date(Date.now() + 365 * DAY),
  });
  await endedDaysAgo(server, commented, 40);
  await endedDaysAgo(server, parent, 40);

  // A budget no run here comes near: this test is about what goes, the next one about the budget.
  const first = await purgeExpired(db, { retentionDays: 30, batchSize: 4, budgetMs: 60_000 });
  expect(first).toMatchObject({ operations: 1, items: 12 });
  expect(first.events).toBeGreaterThanOrEqual(3); // CREATED, STARTED, FINISHED
  expect(await rowsOf(server, commented)).toEqual(gone);
  for (const kept of [recent, parent, child]) expect((await rowsOf(server, kept)).operations).toBe(1);
  expect((await rowsOf(server, parent)).items).toBe(10);

  // The comments stay, with their operation's id, and the one-per-ticket-per-operation key holds.
  const { rows: comments } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ticket_comments
      WHERE bulk_operation_id = ${commented.id}`.execute(db);
  expect(comments[0].n).toBe(12);
  await expect(
    sql`INSERT INTO ticket_comments (tenant_id, ticket_id, author_id, body, bulk_operation_id)
        VALUES (${tenant.id}, ${ids[0]}, ${tenant.admin.id}, 'again', ${commented.id})`.execute(db),
  ).rejects.toMatchObject({ code: "23505" });

  // 31 days on: the child is old enough, so child and then parent go; the waiting one stays.
  const later = await purgeExpired(db, {
    retentionDays: 30,
    now: new Date(Date.now() + 31 * DAY),
    batchSize: 4,
    budgetMs: 60_000,
  });
  expect(later.operations).toBe(3);
  for (const old of [recent, parent, child]) expect(await rowsOf(server, old)).toEqual(gone);
  expect(await rowsOf(server, waiting)).toMatchObject({ operations: 1, items: 10, jobs: 2 });
  const none = await purgeExpired(db, { retentionDays: 30, now: new Date(Date.now() + 400 * DAY), budgetMs: 60_000 });
  expect(none).toMatchObject({ operations: 0, backlog: false, unfinished: null });
});

Deno.test("an operation being deleted by retention can no longer be retried or rolled back", async () => {
  await using server = await startTestServer({ tickets: 10, env: { WORKERS: "0", BULK_CHUNK_SIZE: "5" } });
  const { db, tenant } = server;
  const ids = await ticketIds(db, tenant.id);
  await sql`UPDATE tickets SET status = 'CLOSED'`.execute(db);
  const op = await finished(server, "SET_PRIORITY", { priority: "HIGH" }, ids);
  expect(op.failed).toBe(10);
  await sql`UPDATE bulk_operations SET purge_started_at = now() WHERE id = ${op.id}`.execute(db);
  const viewer = await loadViewer(db, tenant.admin);
  await expect(retryFailedItems(db, ticketsDomain, viewer, op.id, { limits: LINEAGE_LIMITS })).rejects.toMatchObject({
    code: "NOT_FOUND",
  });
  await expect(
    rollbackOperation(db, ticketsDomain, viewer, op.id, { force: true, windowHours: 24, limits: LINEAGE_LIMITS }),
  )
    .rejects.toMatchObject({ code: "NOT_FOUND" });
});

Deno.test("the worker pool runs retention on its own timer", async () => {
  await using server = await startTestServer({
    tickets: 10,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: "5", BULK_POLL_MS: "100", BULK_RETENTION_DAYS: "2" },
  });
  const { db, tenant } = server;
  const ids = await ticketIds(db, tenant.id);
  const old = await finished(server, "SET_CATEGORY", { category: "GENERAL" }, ids);
  const young = await finished(server, "SET_CATEGORY", { category: "TECHNICAL" }, ids);
  await endedDaysAgo(server, old, 3);
  await using _pool = await startPool(server.config, server.databaseUrl, db, 1);
  const deadline = Date.now() + 15_000;
  while ((await rowsOf(server, old)).operations > 0) {
    if (Date.now() > deadline) {
      throw new Error("timed out waiting for the maintenance tick to delete the old operation");
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(await rowsOf(server, old)).toEqual(gone);
  expect((await rowsOf(server, young)).operations).toBe(1);
});

Deno.test("a retention run stops at its time budget and the next run resumes the half-deleted operation", async () => {
  await using server = await startTestServer({ tickets: 30, env: { WORKERS: "0", BULK_CHUNK_SIZE: "5" } });
  const { db } = server;
  const ids = await ticketIds(db, server.tenant.id);
  const first = await finished(server, "SET_CATEGORY", { category: "BILLING" }, ids.slice(0, 12));
  const second = await finished(server, "SET_CATEGORY", { category: "GENERAL" }, ids.slice(12, 22));
  await endedDaysAgo(server, first, 40);
  await endedDaysAgo(server, second, 39);
  const eventsBefore = (await rowsOf(server, first)).events + (await rowsOf(server, second)).events;

  // A budget of 0: every run makes one statement of progress, then stops and hands over.
  const BATCH = 4;
  const runs: RetentionResult[] = [];
  let resume: RetentionResult["unfinished"] = null;
  do {
    const run = await purgeExpired(db, { retentionDays: 30, batchSize: BATCH, budgetMs: 0, resume });
    runs.push(run);
    resume = run.unfinished;
    if (runs.length > 100) throw new Error(`retention never finished: ${JSON.stringify(runs.slice(-3))}`);
  } while (runs[runs.length - 1].backlog);

  // The first run deleted one batch of the oldest operation's ledger and stopped there; the next continued it.
  expect(runs[0]).toMatchObject({ items: BATCH, operations: 0, backlog: true, unfinished: { id: first.id } });
  expect(runs[1]).toMatchObject({ items: BATCH, backlog: true, unfinished: { id: first.id, step: "items" } });
  expect(runs.length).toBeGreaterThan(5);
  for (const run of runs) {
    expect(run.items + run.events + run.notifications + run.previews).toBeLessThanOrEqual(BATCH);
  }
  const total = (key: "operations" | "items" | "events") => runs.reduce((sum, run) => sum + run[key], 0);
  expect({ operations: total("operations"), items: total("items"), events: total("events") })
    .toEqual({ operations: 2, items: 22, events: eventsBefore });
  expect(await rowsOf(server, first)).toEqual(gone);
  expect(await rowsOf(server, second)).toEqual(gone);
});

/** A notification event of the operation with one e-mail delivery in `status` (as the outbox writes them). */
async function notification(server: TestServer, op: OperationRow, status: "PENDING" | "DELIVERED" | "FAILED") {
  const id = `msg_${crypto.randomUUID()}`;
  await sql`INSERT INTO notification_events (id, tenant_id, operation_id, type, payload)
    VALUES (${id}, ${op.tenant_id}, ${op.id}, 'bulk_operation.finished', '{}')`.execute(server.db);
  await sql`INSERT INTO notification_deliveries (event_id, tenant_id, channel, recipient, status)
    VALUES (${id}, ${op.tenant_id}, 'EMAIL', 'someone@test.example', ${status})`.execute(server.db);
}

async function notificationsOf(server: TestServer, op: OperationRow) {
  const { rows: [row] } = await sql<{ events: number; deliveries: number }>`SELECT
    (SELECT count(*) FROM notification_events WHERE operation_id = ${op.id})::int AS events,
    (SELECT count(*) FROM notification_deliveries d JOIN notification_events e ON e.id = d.event_id
     WHERE e.operation_id = ${op.id})::int AS deliveries`.execute(server.db);
  return row;
}

Deno.test("retention deletes an operation's settled notifications in batches and keeps one with a PENDING delivery", async () => {
  await using server = await startTestServer({ tickets: 10, env: { WORKERS: "0", BULK_CHUNK_SIZE: "5" } });
  const { db } = server;
  const ids = await ticketIds(db, server.tenant.id);
  const settled = await finished(server, "SET_CATEGORY", { category: "BILLING" }, ids.slice(0, 5));
  const pending = await finished(server, "SET_CATEGORY", { category: "GENERAL" }, ids.slice(5, 10));
  for (let i = 0; i < 3; i++) await notification(server, settled, i === 0 ? "FAILED" : "DELIVERED");
  await notification(server, pending, "DELIVERED");
  await notification(server, pending, "PENDING");
  await endedDaysAgo(server, settled, 40);
  await endedDaysAgo(server, pending, 40);

  const run = await purgeExpired(db, { retentionDays: 30, batchSize: 2, budgetMs: 60_000 });
  expect(run).toMatchObject({ operations: 1, notifications: 6, backlog: false });
  expect(await rowsOf(server, settled)).toEqual(gone);
  expect(await notificationsOf(server, settled)).toEqual({ events: 0, deliveries: 0 });
  // Its delivery still to be sent: the operation, its ledger and its notifications all stay.
  expect(await rowsOf(server, pending)).toMatchObject({ operations: 1, items: 5 });
  expect(await notificationsOf(server, pending)).toEqual({ events: 2, deliveries: 2 });

  // Once the delivery settled, the next run deletes it all.
  await sql`UPDATE notification_deliveries SET status = 'DELIVERED' WHERE status = 'PENDING'`.execute(db);
  expect(await purgeExpired(db, { retentionDays: 30, batchSize: 2, budgetMs: 60_000 }))
    .toMatchObject({ operations: 1, notifications: 4 });
  expect(await rowsOf(server, pending)).toEqual(gone);
  expect(await notificationsOf(server, pending)).toEqual({ events: 0, deliveries: 0 });
});

Deno.test("retention stuck on a row lock delays neither admission nor the pool's stop", async () => {
  const POLL_MS = 200;
  await using server = await startTestServer({
    tickets: 10,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: "5", BULK_POLL_MS: String(POLL_MS), BULK_RETENTION_DAYS: "2" },
  });
  const { db, tenant } = server;
  const ids = await ticketIds(db, tenant.id);
  const old = await finished(server, "SET_CATEGORY", { category: "GENERAL" }, ids);
  await endedDaysAgo(server, old, 3);
  // Something holds one of the old operation's ledger rows: retention's DELETE waits for it.
  await using owned = new AsyncDisposableStack();
  const holder = owned.use(
    await connectClient({ connectionString: server.databaseUrl, application_name: "test row lock" }),
  );
  await holder.query("BEGIN");
  await holder.query("SELECT 1 FROM bulk_operation_items WHERE operation_id = $1 AND position = 0 FOR UPDATE", [
    old.id,
  ]);
  const pool = owned.use(await startPool(server.config, server.databaseUrl, db, 0));
  // Runs first: the row lock goes before the pool stops (its retention run would wait for it). A
  // second stop() after the test's own is a no-op: no threads, its loops already ended.
  owned.defer(() => holder[Symbol.asyncDispose]());
  await waitUntil(async () => {
    const { rows: [row] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock'
        AND query ILIKE 'delete from "bulk_operation_items"%'`.execute(db);
    return row.n > 0;
  }, { timeoutMs: 15_000, what: "retention waits for the locked ledger row" });

  // Meanwhile a scheduled operation comes due: the maintenance tick admits it as usual.
  const scheduled = await start(server, tenant.admin, {
    actionType: "SET_PRIORITY",
    params: { priority: "LOW" },
    targets: { kind: "ids", ids },
    scheduledAt: new Date(Date.now() + 300),
  });
  // The bound is BULK_POLL_MS + 1 s; asserted with room for a loaded 2-core machine
  // (2 x poll + 3 s), the measurement printed. Inside the tick, retention held it up for good.
  const admitted = await waitFor(db, scheduled.id, (op) => op.status === "RUNNING", 2 * POLL_MS + 3000 + 300);
  const delayMs = admitted.started_at!.getTime() - scheduled.scheduled_at!.getTime();
  console.log(`admitted ${delayMs} ms after its time while retention waited on a lock (BULK_POLL_MS ${POLL_MS})`);
  expect(delayMs).toBeLessThanOrEqual(2 * POLL_MS + 3000);

  await holder.query("COMMIT");
  await waitUntil(async () => (await rowsOf(server, old)).operations === 0, {
    timeoutMs: 15_000,
    what: "retention deletes the old operation once the row is free",
  });
  await within(pool.stop(), 15_000, "the pool stops, retention included");
});
