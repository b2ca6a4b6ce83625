/**
 * Cancel racing the workers' claims. A cancel of a small operation with no chunk in flight
 * deletes its jobs and ends it itself; a worker may claim one of those jobs after the cancel
 * read them. The cancel must then neither delete nor wait for the claimed job (deleting it by
 * id deadlocked with that job's chunk), and the claiming worker settles it. A job backing off
 * after a failure is made due by the cancel, so the operation ends without waiting it out.
 * Driven by the engine's own functions (claimJob, runChunk) so each step happens at a known
 * moment; the claim's commit is held open on a connection of the test's.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { cancelOperation } from "../src/bulk/cancel.ts";
import { claimJob } from "../src/bulk/queue/claim.ts";
import type { Job } from "../src/bulk/queue/job.ts";
import { runChunk } from "../src/bulk/run-chunk.ts";
import type { Db } from "../src/db/database.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { ledger, loadViewer, operation, start, ticketIds } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { waitUntil, within } from "./helpers/wait.ts";
import { connectClient } from "./helpers/pg_client.ts";

const CHUNK = 5;

async function lockWaiters(db: Db): Promise<number> {
  const { rows: [row] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND datname = current_database()`.execute(db);
  return row.n;
}

/** An agent's SET_PRIORITY URGENT of every ticket (all open, LOW): two chunks, nothing applied yet. */
async function startTwoChunks(server: TestServer) {
  await sql`UPDATE tickets SET status = 'OPEN', deleted_at = NULL, priority = 'LOW'`.execute(server.db);
  return await start(server, server.tenant.agent, {
    actionType: "SET_PRIORITY",
    params: { priority: "URGENT" },
    targets: { kind: "ids", ids: await ticketIds(server.db, server.tenant.id) },
  });
}

/** Settles to the error a promise rejected with, or null: every party's failure is collected, none is lost. */
const failure = (promise: Promise<unknown>) => promise.then(() => null, (error: Error) => error.message);

Deno.test("a job claimed while an inline cancel runs: no deadlock, the claiming worker settles it, exact counts", async () => {
  await using server = await startTestServer({
    tickets: 2 * CHUNK,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK) },
  });
  await using claimer = await connectClient({ connectionString: server.databaseUrl, application_name: "test claim" });
  const { db, tenant } = server;
  const op = await startTwoChunks(server);
  expect(op.status).toBe("RUNNING");

  // Worker B claims chunk 0; its claim has not committed yet (what claimJob does, held open).
  await claimer.query("BEGIN");
  const { rows: [claimed] } = await claimer.query<Job>(
    `UPDATE bulk_jobs SET locked_by = 'worker-b', locked_until = now() + interval '60 seconds',
         attempts = attempts + 1
       WHERE operation_id = $1 AND chunk_index = 0
       RETURNING id, operation_id, chunk_index, first_position, last_position, attempts, locked_by, last_error,
         trace_context`,
    [op.id],
  );

  // The cancel read both jobs as unclaimed. It must not wait for the claim of chunk 0.
  let cancelReturned = false;
  const cancel = cancelOperation(db, ticketsDomain, await loadViewer(db, tenant.agent), op.id);
  const cancelFailure = failure(cancel.finally(() => cancelReturned = true));
  await waitUntil(async () => cancelReturned || await lockWaiters(db) > 0, {
    timeoutMs: 10_000,
    what: "the cancel returns or waits for the claimed job",
  });
  const cancelWaitedForTheClaim = !cancelReturned;

  // Worker A claims what it can meanwhile (chunk 1, if the cancel left it) and works it.
  const jobA = await claimJob(db, "worker-a", 60_000);
  const chunkA = jobA ? failure(runChunk(db, ticketsDomain, jobA)) : Promise.resolve(null);
  if (jobA) {
    // The chunk wrote its items and deleted its job, and waits for the operation row the cancel holds.
    await waitUntil(async () => await lockWaiters(db) >= 2, {
      timeoutMs: 10_000,
      what: "worker A's chunk waits for the cancel",
    });
  }

  // Worker B's claim commits; it works its chunk like any worker.
  await claimer.query("COMMIT");
  const chunkB = failure(runChunk(db, ticketsDomain, claimed));
  const errors = await within(Promise.all([cancelFailure, chunkA, chunkB]), 30_000, "cancel and chunks end");

  expect({ errors: errors.filter((e) => e !== null), cancelWaitedForTheClaim, jobA: jobA?.chunk_index ?? null })
    .toEqual({ errors: [], cancelWaitedForTheClaim: false, jobA: null });
  // The cancel ended chunk 1 itself and left the claimed chunk 0 to its worker.
  const cancelled = await cancel;
  if (!cancelled.ok) throw new Error(`cancel refused: ${cancelled.message}`);
  expect(cancelled.operation).toMatchObject({ status: "CANCELLING", cancelled: CHUNK });
  const ended = await expectConsistent(db, op.id);
  expect(ended).toMatchObject({ status: "CANCELLED", cancelled: 2 * CHUNK, succeeded: 0, failed: 0, skipped: 0 });
  expect((await ledger(db, op.id)).outcomes).toEqual({ CANCELLED: 2 * CHUNK });
  const { rows: [untouched] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM tickets
      WHERE tenant_id = ${tenant.id} AND priority = 'URGENT'`.execute(db);
  expect(untouched.n).toBe(0);
});

Deno.test("a cancel while a job backs off after a failure ends the operation without waiting out the backoff", async () => {
  await using server = await startTestServer({
    tickets: 2 * CHUNK,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK) },
  });
  const { db, tenant } = server;
  const op = await startTwoChunks(server);
  // Chunk 0 failed once and waits an hour for its retry; chunk 1 is claimed by a worker.
  await sql`UPDATE bulk_jobs SET run_at = now() + interval '1 hour', attempts = 1, last_error = 'boom'
      WHERE operation_id = ${op.id} AND chunk_index = 0`.execute(db);
  const inFlight = await claimJob(db, "worker-a", 60_000);
  expect(inFlight?.chunk_index).toBe(1);

  const cancel = await cancelOperation(db, ticketsDomain, await loadViewer(db, tenant.agent), op.id);
  if (!cancel.ok) throw new Error(`cancel refused: ${cancel.message}`);
  expect(cancel.operation.status).toBe("CANCELLING");
  // The backing-off job is due now: the next claim takes it and ends its items CANCELLED.
  const backedOff = await claimJob(db, "worker-b", 60_000);
  expect(backedOff?.chunk_index).toBe(0);
  expect(await runChunk(db, ticketsDomain, backedOff!)).toMatchObject({ finished: false, items: 0 });
  expect((await operation(db, op.id)).status).toBe("CANCELLING");
  // The chunk in flight read the operation after the cancel: it ends its own items CANCELLED and the operation.
  expect(await runChunk(db, ticketsDomain, inFlight!)).toMatchObject({ finished: true, status: "CANCELLED" });
  const ended = await expectConsistent(db, op.id);
  expect(ended).toMatchObject({ status: "CANCELLED", cancelled: 2 * CHUNK, succeeded: 0 });
  expect(ended.finished_at!.getTime() - ended.cancel_requested_at!.getTime()).toBeLessThan(60_000);
});
