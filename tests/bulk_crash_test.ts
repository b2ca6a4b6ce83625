/**
 * Real processes: `deno task worker` subprocesses work an ADD_COMMENT operation while the
 * test server runs no workers. One is SIGKILLed inside a chunk transaction, another is
 * SIGTERMed with a chunk stuck past the grace period; in both cases a fresh worker process
 * finishes the operation with every item applied exactly once (exactly one comment per
 * ticket, each the one the ledger names) and the counters equal to the ledger.
 */
import { expect } from "expect";
import { sql } from "kysely";
import type { Db } from "../src/db/database.ts";
import { finished, operation, start, waitFor } from "./helpers/bulk.ts";
import { counterValue } from "./helpers/bulk_checks.ts";
import { chunkAttempts, expectAppliedOnce, leasesOf, openTicketIds, stallOnce } from "./helpers/crash.ts";
import { startTestServer } from "./helpers/server.ts";
import { crashWorkerEnv, spawnWorker } from "./helpers/worker_process.ts";
import { waitUntil, within } from "./helpers/wait.ts";

const CHUNK = 200;

/** The first chunk transaction that comments on `ticketId` stalls for `seconds` (once). */
const stallOnComment = (db: Db, ticketId: string, seconds: number) =>
  stallOnce(db, "ticket_comments", sql`NEW.ticket_id = ${sql.lit(Number(ticketId))}`, seconds);

Deno.test("SIGKILL of a worker process mid-chunk: another process finishes, every comment added exactly once", async () => {
  await using server = await startTestServer({
    tickets: 25_000,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK) },
  });
  const { db, tenant } = server;
  const targets = await openTicketIds(db, tenant.id);
  expect(targets.length).toBe(20_000);
  // Chunk 25 stalls on its first run, so the kill lands inside that chunk's transaction.
  const stalledChunk = 25;
  await stallOnComment(db, targets[stalledChunk * CHUNK + 17], 2);

  const env = crashWorkerEnv(server.databaseUrl, CHUNK);
  await using first = await spawnWorker(env);
  const started = performance.now();
  const op = await start(server, tenant.agent, {
    actionType: "ADD_COMMENT",
    params: { body: "Checked during the outage." },
    targets: { kind: "ids", ids: targets },
  });
  await waitUntil(async () => await counterValue(db, "stall_count") > 0, {
    timeoutMs: 60_000,
    what: "the worker is inside the stalled chunk",
  });

  first.signal("SIGKILL");
  const status = await within(first.exited, 30_000, "the SIGKILLed worker process exits");
  expect(status.success).toBe(false);
  const atKill = await operation(db, op.id);
  const doneAtKill = atKill.succeeded + atKill.failed + atKill.skipped;
  console.log(`SIGKILL after ${Math.round(performance.now() - started)} ms with ${doneAtKill} items committed`);
  expect(doneAtKill).toBeGreaterThan(0);
  expect(doneAtKill).toBeLessThan(targets.length);
  expect(finished(atKill)).toBe(false);
  // The dead process still holds the lease of the chunk it was in.
  expect(await leasesOf(db, op.id, first.pid)).toEqual([
    { chunk_index: stalledChunk, locked_by: expect.any(String), attempts: 1 },
  ]);

  const restarted = performance.now();
  await using _second = await spawnWorker(env);
  await waitFor(db, op.id, finished, 120_000);
  console.log(
    `second worker process finished the operation ${Math.round(performance.now() - restarted)} ms after starting`,
  );

  await expectAppliedOnce(server, op.id, targets);
  // The killed chunk was rescued and committed by the second process on its second claim.
  expect(await chunkAttempts(db, op.id, stalledChunk, CHUNK)).toEqual([2]);
});

Deno.test("SIGTERM: the worker process exits 0 within the grace period and releases its leases", async () => {
  await using server = await startTestServer({
    tickets: 12_500,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK) },
  });
  // 4 s of grace for the thread that is not stuck: its 200-comment chunk commits in tens of
  // milliseconds on an idle machine, so even a heavily shared 2-core machine finishes it in time.
  const GRACE_MS = 4000;
  // The stuck chunk would hold its thread for a minute: exiting well before that is the proof
  // that the grace period, not the chunk, decided when the process stopped.
  const STALL_SECONDS = 60;
  const { db, tenant } = server;
  const targets = await openTicketIds(db, tenant.id);
  expect(targets.length).toBe(10_000);
  // One thread gets stuck in chunk 10 for longer than the grace period; the other keeps working.
  const stalledChunk = 10;
  await stallOnComment(db, targets[stalledChunk * CHUNK + 3], STALL_SECONDS);

  const env = {
    DATABASE_URL: server.databaseUrl,
    WORKERS: "2",
    BULK_CHUNK_SIZE: String(CHUNK),
    BULK_POLL_MS: "200",
    SHUTDOWN_GRACE_MS: String(GRACE_MS),
  };
  await using first = await spawnWorker(env);
  const op = await start(server, tenant.agent, {
    actionType: "ADD_COMMENT",
    params: { body: "Checked before the deploy." },
    targets: { kind: "ids", ids: targets },
  });
  await waitUntil(async () => await counterValue(db, "stall_count") > 0, {
    timeoutMs: 60_000,
    what: "a thread is inside the stalled chunk",
  });
  expect(await leasesOf(db, op.id, first.pid)).toContainEqual(
    { chunk_index: stalledChunk, locked_by: expect.any(String), attempts: 1 },
  );

  const signalled = performance.now();
  first.signal("SIGTERM");
  // The grace period, then teardown (about 0.3 s idle; the margin up to 50 s is for a loaded
  // machine): in any case 10 s before the stuck chunk's minute is over. The deadline is the bound.
  const status = await within(
    first.exited,
    STALL_SECONDS * 1000 - 10_000,
    "the SIGTERMed worker process exits before the stuck chunk's minute is over",
  );
  const exitMs = performance.now() - signalled;
  console.log(`SIGTERM -> exit ${status.code} in ${Math.round(exitMs)} ms (grace ${GRACE_MS} ms, stall 60 s)`);
  expect(status.code).toBe(0);
  expect(exitMs).toBeGreaterThanOrEqual(GRACE_MS);
  // Only the stuck thread was cut off; the other one finished its chunk within the grace period.
  expect(first.lines.filter((l) => /still running after the grace period/.test(l)).length).toBe(1);
  // Its leases are released: nothing of the operation is locked, the stuck chunk is runnable again.
  expect(await leasesOf(db, op.id, first.pid)).toEqual([]);
  const jobs = await db.selectFrom("bulk_jobs").select(["chunk_index", "locked_by", "attempts"])
    .where("operation_id", "=", op.id).execute();
  expect(jobs.filter((j) => j.locked_by !== null)).toEqual([]);
  expect(jobs).toContainEqual({ chunk_index: stalledChunk, locked_by: null, attempts: 0 });
  const atStop = await operation(db, op.id);
  expect(finished(atStop)).toBe(false);
  console.log(`${atStop.succeeded} of ${atStop.total} items committed before the shutdown`);

  // The dead process's stalled statement would sleep out its minute in PostgreSQL (a busy
  // backend does not notice its client is gone); end it as the server would on its own.
  await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event = 'PgSleep'`.execute(db);
  await using _second = await spawnWorker({ ...env, WORKERS: "1" });
  await waitFor(db, op.id, finished, 120_000);
  await expectAppliedOnce(server, op.id, targets);
  // The released chunk's attempt was given back, so the second process committed it as attempt 1.
  expect(await chunkAttempts(db, op.id, stalledChunk, CHUNK)).toEqual([1]);
});
