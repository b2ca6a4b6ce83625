/**
 * The audit trail is kept under the retention rule (docs/security.md "Audit trail"): events
 * older than BULK_RETENTION_DAYS are deleted in batches, oldest first, newer ones stay; the
 * clock is injected (pruneAuditEvents's `now`); the pool's retention loop runs it.
 * Real PostgreSQL.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { pruneAuditEvents } from "../src/audit/retention.ts";
import { RetentionLoop } from "../src/bulk/retention.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { waitUntil } from "./helpers/wait.ts";

const DAY = 86_400_000;

/** Inserts `count` audit events `ageDays` old, each with `subject`. */
async function auditEvents(server: TestServer, ageDays: number, subject: string, count = 1) {
  await server.db.insertInto("audit_events").values(
    Array.from({ length: count }, () => ({
      tenant_id: server.tenant.id,
      actor_id: null,
      action: "RETENTION_TEST",
      subject,
      created_at: new Date(Date.now() - ageDays * DAY),
    })),
  ).execute();
}

/** The subjects of the events this test inserted (creating the tenants recorded TOKEN_MINTED ones), oldest first. */
const subjects = async (server: TestServer) =>
  (await server.db.selectFrom("audit_events").select("subject").where("action", "=", "RETENTION_TEST").orderBy(
    "created_at",
  ).execute()).map((r) => r.subject);

Deno.test("audit retention: events older than BULK_RETENTION_DAYS are deleted in batches; newer ones stay", async () => {
  await using server = await startTestServer();
  await auditEvents(server, 120, "old", 9);
  await auditEvents(server, 91, "just expired");
  await auditEvents(server, 89, "just kept");
  await auditEvents(server, 5, "recent");

  // A budget of 0 still runs one statement: 4 rows, the oldest first, then it says rows are left.
  expect(await pruneAuditEvents(server.db, { retentionDays: 90, batchSize: 4, budgetMs: 0 }))
    .toEqual({ deleted: 4, backlog: true });
  expect(await pruneAuditEvents(server.db, { retentionDays: 90, batchSize: 4, budgetMs: 60_000 }))
    .toEqual({ deleted: 6, backlog: false });
  expect(await subjects(server)).toEqual(["just kept", "recent"]);

  // Ten days later (the injected clock) the 89-day-old event has expired too; the recent one stays.
  const later = new Date(Date.now() + 10 * DAY);
  expect(await pruneAuditEvents(server.db, { retentionDays: 90, now: later })).toEqual({
    deleted: 1,
    backlog: false,
  });
  expect(await subjects(server)).toEqual(["recent"]);
  expect(await pruneAuditEvents(server.db, { retentionDays: 90, now: later })).toEqual({
    deleted: 0,
    backlog: false,
  });

  // Each batch is a range of audit_events_created_idx, not a scan of the table.
  const plan = await server.db.transaction().execute(async (tx) => {
    await sql`SET LOCAL enable_seqscan = off`.execute(tx);
    const rows = await sql<{ "QUERY PLAN": string }>`EXPLAIN SELECT id FROM audit_events
      WHERE created_at < now() ORDER BY created_at LIMIT 5000 FOR UPDATE SKIP LOCKED`.execute(tx);
    return rows.rows.map((row) => row["QUERY PLAN"]).join("\n");
  });
  expect(plan).toContain("audit_events_created_idx");
});

Deno.test("audit retention: the pool's retention loop prunes the audit trail", async () => {
  await using server = await startTestServer();
  await auditEvents(server, 40, "expired");
  await auditEvents(server, 1, "kept");
  const errors: string[] = [];
  await using loop = new RetentionLoop(server.db, { retentionDays: 30, firstRunMs: 0, onError: (m) => errors.push(m) });
  loop.start();
  await waitUntil(async () => (await subjects(server)).length === 1, {
    timeoutMs: 10_000,
    what: "the retention loop deleted the 40-day-old audit event",
    describe: () => subjects(server),
  });
  expect(await subjects(server)).toEqual(["kept"]);
  expect(errors).toEqual([]);
});
