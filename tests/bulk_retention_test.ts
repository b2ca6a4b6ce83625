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
import { purgeExpired } from "../src/bulk/retention.ts";
import { runChunk } from "../src/bulk/run-chunk.ts";
import { startPool } from "../src/bulk/start-pool.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { start, ticketIds, viewerOf, waitFor } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

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
    (SELECT count(*) FROM bulk_operation_items WHERE operation_id = ${op.id})::int AS items,
    (SELECT count(*) FROM bulk_operation_events WHERE operation_id = ${op.id})::int AS events,
    (SELECT count(*) FROM bulk_jobs WHERE operation_id = ${op.id})::int AS jobs`.execute(server.db);
  return row;
}
const gone = { operations: 0, items: 0, events: 0, jobs: 0 };

Deno.test("retention deletes finished operations past BULK_RETENTION_DAYS, in batches, keeping lineage and comments", async () => {
  const server = await startTestServer({ tickets: 60, env: { WORKERS: "0", BULK_CHUNK_SIZE: "5" } });
  try {
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
    const limits = {
      maxTargets: 1000,
      chunkSize: 5,
      maxActivePerUser: 10,
      maxStartsPerMinute: 1000,
      maxWaitingPerUser: 1000,
    };
    const viewer = await viewerOf(db, tenant.admin);
    const child = (await retryFailedItems(db, ticketsDomain, viewer, parent.id, { limits })).operation;
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

    const first = await purgeExpired(db, { retentionDays: 30, batchSize: 4 });
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
    const later = await purgeExpired(db, { retentionDays: 30, now: new Date(Date.now() + 31 * DAY), batchSize: 4 });
    expect(later.operations).toBe(3);
    for (const old of [recent, parent, child]) expect(await rowsOf(server, old)).toEqual(gone);
    expect(await rowsOf(server, waiting)).toMatchObject({ operations: 1, items: 10, jobs: 2 });
    expect((await purgeExpired(db, { retentionDays: 30, now: new Date(Date.now() + 400 * DAY) })).operations)
      .toBe(0);
  } finally {
    await server.stop();
  }
});

Deno.test("an operation being deleted by retention can no longer be retried or rolled back", async () => {
  const server = await startTestServer({ tickets: 10, env: { WORKERS: "0", BULK_CHUNK_SIZE: "5" } });
  try {
    const { db, tenant } = server;
    const ids = await ticketIds(db, tenant.id);
    await sql`UPDATE tickets SET status = 'CLOSED'`.execute(db);
    const op = await finished(server, "SET_PRIORITY", { priority: "HIGH" }, ids);
    expect(op.failed).toBe(10);
    await sql`UPDATE bulk_operations SET purge_started_at = now() WHERE id = ${op.id}`.execute(db);
    const viewer = await viewerOf(db, tenant.admin);
    const limits = {
      maxTargets: 1000,
      chunkSize: 5,
      maxActivePerUser: 10,
      maxStartsPerMinute: 1000,
      maxWaitingPerUser: 1000,
    };
    await expect(retryFailedItems(db, ticketsDomain, viewer, op.id, { limits })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(rollbackOperation(db, ticketsDomain, viewer, op.id, { force: true, windowHours: 24, limits }))
      .rejects.toMatchObject({ code: "NOT_FOUND" });
  } finally {
    await server.stop();
  }
});

Deno.test("the worker pool's maintenance tick runs retention", async () => {
  const server = await startTestServer({
    tickets: 10,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: "5", BULK_POLL_MS: "100", BULK_RETENTION_DAYS: "2" },
  });
  try {
    const { db, tenant } = server;
    const ids = await ticketIds(db, tenant.id);
    const old = await finished(server, "SET_CATEGORY", { category: "GENERAL" }, ids);
    const young = await finished(server, "SET_CATEGORY", { category: "TECHNICAL" }, ids);
    await endedDaysAgo(server, old, 3);
    const pool = await startPool(server.config, server.databaseUrl, db, 1);
    try {
      const deadline = Date.now() + 15_000;
      while ((await rowsOf(server, old)).operations > 0) {
        if (Date.now() > deadline) {
          throw new Error("timed out waiting for the maintenance tick to delete the old operation");
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(await rowsOf(server, old)).toEqual(gone);
      expect((await rowsOf(server, young)).operations).toBe(1);
    } finally {
      await pool.stop();
    }
  } finally {
    await server.stop();
  }
});
