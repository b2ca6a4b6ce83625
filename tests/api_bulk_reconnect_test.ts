/**
 * The LISTEN connection that feeds every subscription of a process is lost (its backend
 * terminated): the hub reconnects, and live events keep arriving on the open subscriptions,
 * both the tenant feed (bulkOperationsChanged) and one operation's bulkOperationProgress.
 * The operation is held by a row lock until the new LISTEN connection is up, so every event
 * after that comes from a chunk committed after the reconnect: with notifications broken
 * after a reconnect, none would arrive.
 */
import { expect } from "expect";
import { sql } from "kysely";
import type { Db } from "../src/db/database.ts";
import { holdTicketLocks, type OperationView, PROGRESS, record, startOk, ticketGid } from "./helpers/api.ts";
import { ticketIds } from "./helpers/bulk.ts";
import { wsClient } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import { waitUntil, within } from "./helpers/wait.ts";

interface Progress {
  bulkOperationProgress: OperationView;
}
interface Changed {
  bulkOperationsChanged: { id: string; status: string };
}

/** The backend of this server's LISTEN connection (pid, and whether its LISTEN ran). */
async function listenBackend(db: Db) {
  const { rows } = await sql<{ pid: number; query: string; state: string }>`
    SELECT pid, query, state FROM pg_stat_activity
    WHERE application_name = 'bulk-ops listen' AND datname = current_database()`.execute(db);
  return rows;
}

Deno.test("subscriptions keep receiving live events after the LISTEN connection is lost and re-made", async () => {
  const CHUNK = 10;
  await using server = await startTestServer({ tickets: 30, env: { WORKERS: "1", BULK_CHUNK_SIZE: String(CHUNK) } });
  await using client = wsClient(server.wsUrl, server.tenant.agent.token);
  const { db } = server;
  // Chunk 1 (positions 10-19) waits on this lock: the operation stops after chunk 0.
  const ids = await ticketIds(db, server.tenant.id);
  await using gate = await holdTicketLocks(server.databaseUrl, [ids[15]]);
  const feed = record<Changed>(client, "subscription { bulkOperationsChanged { id status } }");
  const op = await startOk(server, server.tenant.agent, {
    targets: { ids: ids.map(ticketGid) },
    action: { setPriority: { priority: "URGENT" } },
  });
  const progress = record<Progress>(client, PROGRESS, { id: op.id });
  // Both subscriptions are live: each has seen the chunk-0 state (10 of 30 processed).
  await progress.waitFor((e) => e.bulkOperationProgress.counts.processed === CHUNK, 20_000);
  await feed.waitFor((e) => e.bulkOperationsChanged.id === op.id, 20_000);
  const before = feed.events.length;
  const progressBefore = progress.events.length;

  const [old] = await listenBackend(db);
  const { rows } = await sql<{ terminated: boolean }>`SELECT pg_terminate_backend(${old.pid}) AS terminated`
    .execute(db);
  expect(rows).toEqual([{ terminated: true }]);
  // The hub reconnects (backoff from 100 ms): a new backend that has run its LISTEN.
  await waitUntil(
    async () => (await listenBackend(db)).find((b) => b.pid !== old.pid && /^LISTEN /.test(b.query)),
    { timeoutMs: 20_000, what: "a new LISTEN connection is up", describe: () => listenBackend(db) },
  );
  expect(progress.completed).toBe(false);

  await gate.release();
  const done = await progress.waitFor((e) => e.bulkOperationProgress.counts.processed === 30, 30_000);
  expect(done.bulkOperationProgress.status).toBe("COMPLETED_WITH_ERRORS"); // closed tickets are read-only
  await within(progress.done, 20_000, "the progress subscription completes after the terminal state");
  expect(progress.completed).toBe(true);
  expect(progress.errors).toEqual([]);
  // Events since the reconnect: the re-read of the held state (10), then the chunks committed
  // after the release (20 and 30, or 30 alone when the throttle coalesced them).
  const after = progress.events.slice(progressBefore).map((e) => e.data.bulkOperationProgress.counts.processed);
  expect(after.filter((n) => ![10, 20, 30].includes(n))).toEqual([]);
  expect(after).toEqual([...after].sort((a, b) => a - b));
  expect(after.at(-1)).toBe(30);

  const terminal = await feed.waitFor(
    (e) => e.bulkOperationsChanged.id === op.id && e.bulkOperationsChanged.status === "COMPLETED_WITH_ERRORS",
    20_000,
  );
  expect(terminal).toEqual({ bulkOperationsChanged: { id: op.id, status: "COMPLETED_WITH_ERRORS" } });
  expect(feed.events.length).toBeGreaterThan(before);
  expect(feed.errors).toEqual([]);
});
