/**
 * Imports under crash and cancel: a `deno task worker` process SIGKILLed inside an import
 * chunk's transaction, then a fresh process finishing it (no row imported twice: every row is
 * exactly one ticket, the one its ledger item names), and a cancel mid-import settling exact
 * counts (the rows imported before it, the rest CANCELLED, no ticket for them).
 */
import { expect } from "expect";
import { sql } from "kysely";
import { CANCEL, dbIdOf } from "./helpers/api.ts";
import { finished, operation, runChunks, waitFor } from "./helpers/bulk.ts";
import { counterValue, expectConsistent } from "./helpers/bulk_checks.ts";
import { stallOnce } from "./helpers/crash.ts";
import { gql } from "./helpers/graphql.ts";
import { importedTickets, itemOutcomes, stage, startImport, startImportFile } from "./helpers/imports.ts";
import { startTestServer } from "./helpers/server.ts";
import { waitUntil, within } from "./helpers/wait.ts";
import { crashWorkerEnv, spawnWorker } from "./helpers/worker_process.ts";

const CHUNK = 200;
const ROWS = 4000;

Deno.test("SIGKILL of a worker process mid-import: another process finishes, every row imported exactly once", async () => {
  await using server = await startTestServer({ env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK) } });
  const { db, tenant } = server;
  // Row 2017 (chunk 10) stalls once inside its chunk's INSERT, so the kill lands in that transaction.
  await stallOnce(db, "tickets", sql`NEW.external_id = 'row-2017'`, 2);
  const csv = "title,priority,externalId\n" +
    Array.from({ length: ROWS }, (_, i) => `Imported ${i + 1},HIGH,row-${i + 1}`).join("\n") + "\n";
  const upload = await stage(server, tenant.agent, csv);
  const env = crashWorkerEnv(server.databaseUrl, CHUNK);
  await using first = await spawnWorker(env);
  const payload = await startImport(server, tenant.agent, { source: { upload }, format: "CSV" });
  expect(payload.userErrors).toEqual([]);
  const id = dbIdOf(payload.bulkOperation!.id);
  await waitUntil(async () => await counterValue(db, "stall_count") > 0, {
    timeoutMs: 60_000,
    what: "the worker is inside the stalled import chunk",
  });
  first.signal("SIGKILL");
  expect((await within(first.exited, 30_000, "the SIGKILLed worker process exits")).success).toBe(false);
  const atKill = await operation(db, id);
  expect(atKill.succeeded).toBeGreaterThan(0);
  expect(atKill.succeeded).toBeLessThan(ROWS);
  const { rows: [ticketsAtKill] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM tickets`.execute(db);
  expect(ticketsAtKill.n).toBe(atKill.succeeded); // the killed chunk committed nothing

  await using _second = await spawnWorker(env);
  const done = await waitFor(db, id, finished, 120_000);
  expect({ status: done.status, total: done.total, succeeded: done.succeeded }).toEqual({
    status: "COMPLETED",
    total: ROWS,
    succeeded: ROWS,
  });
  await expectConsistent(db, id);
  const tickets = await importedTickets(db, tenant.id);
  expect(tickets.length).toBe(ROWS);
  expect(new Set(tickets.map((t) => t.external_id)).size).toBe(ROWS);
  // Each row's item names the ticket made from that row.
  const { rows: [linked] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bulk_operation_items i
      JOIN tickets t ON t.id = i.target_id AND t.external_id = 'row-' || (i.position + 1)
      WHERE i.operation_id = ${id} AND i.outcome = 'SUCCEEDED'`.execute(db);
  expect(linked.n).toBe(ROWS);
});

Deno.test("cancel mid-import: the rows imported before it stay, the rest end CANCELLED with no ticket", async () => {
  await using server = await startTestServer({ env: { WORKERS: "0", BULK_CHUNK_SIZE: "3" } });
  const { db, tenant } = server;
  const csv = "title\n" + Array.from({ length: 10 }, (_, i) => `Row ${i + 1}`).join("\n") + "\n";
  const payload = await startImportFile(server, tenant.agent, { format: "CSV" }, csv);
  const gid = payload.bulkOperation!.id;
  const id = dbIdOf(gid);
  expect(await runChunks(server, 2)).toBe(2);
  const cancelled = await gql(server.graphqlUrl, tenant.agent.token, CANCEL, { id: gid });
  expect(cancelled.data.cancelBulkOperation.userErrors).toEqual([]);
  await runChunks(server);
  const op = await waitFor(db, id, finished);
  expect({ status: op.status, succeeded: op.succeeded, failed: op.failed, skipped: op.skipped }).toEqual({
    status: "CANCELLED",
    succeeded: 6,
    failed: 0,
    skipped: 0,
  });
  expect(op.cancelled).toBe(4);
  expect(op.succeeded + op.failed + op.skipped + op.cancelled).toBe(10);
  await expectConsistent(db, id);
  expect((await importedTickets(db, tenant.id)).map((t) => t.title)).toEqual(
    Array.from({ length: 6 }, (_, i) => `Row ${i + 1}`),
  );
  expect((await itemOutcomes(db, id)).map((i) => i.outcome)).toEqual([
    ...Array(6).fill("SUCCEEDED"),
    ...Array(4).fill("CANCELLED"),
  ]);
});
