/**
 * A worker host that freezes inside a chunk (SIGSTOP of a real `deno task worker` process
 * holding the chunk's ticket row locks, idle in its transaction). Without session timeouts
 * the locks were held until the kernel gave up on the connection (hours) while the rescued
 * job's new holder waited on them forever. Now PostgreSQL ends the frozen session after
 * BULK_IDLE_TX_TIMEOUT_MS, the other process commits the chunk, and the frozen process,
 * resumed, commits nothing and carries on.
 */
import { expect } from "expect";
import { sql } from "kysely";
import type { Db } from "../src/db/database.ts";
import { finished, start, waitFor } from "./helpers/bulk.ts";
import { gateWaiters, holdTicketLocks } from "./helpers/api.ts";
import { chunkAttempts, expectAppliedOnce, openTicketIds } from "./helpers/crash.ts";
import { waitUntil } from "./helpers/wait.ts";
import { startTestServer } from "./helpers/server.ts";
import { spawnWorker } from "./helpers/worker_process.ts";

const CHUNK = 200;
const LEASE_MS = 2000;
/** The default of BULK_IDLE_TX_TIMEOUT_MS: twice the lease. */
const IDLE_TX_TIMEOUT_MS = 2 * LEASE_MS;
/** Process scheduling, the rescue tick and the commit of the last chunks, on a shared 2-core machine. */
const SLACK_MS = 5000;

/** What an operation has written: comments, decided items, events. */
async function written(db: Db, operationId: string) {
  const { rows: [row] } = await sql<{ comments: number; decided: number; events: number }>`
    SELECT (SELECT count(*) FROM ticket_comments WHERE bulk_operation_id = ${operationId})::int AS comments,
           (SELECT count(*) FROM bulk_operation_items
            WHERE operation_id = ${operationId} AND outcome <> 'PENDING')::int AS decided,
           (SELECT count(*) FROM bulk_operation_events WHERE operation_id = ${operationId})::int AS events`
    .execute(db);
  return row;
}

Deno.test("SIGSTOP of a worker process inside a chunk: the other process takes over within lease + idle timeout", async () => {
  await using server = await startTestServer({ tickets: 2500, env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK) } });
  const { db, tenant } = server;
  const targets = (await openTicketIds(db, tenant.id)).slice(0, 2000);
  expect(targets.length).toBe(2000);
  // The worker that reaches chunk 5 waits at this ticket, holding the locks of the ones before it.
  const gatedChunk = 5;
  await using gate = await holdTicketLocks(server.databaseUrl, [targets[gatedChunk * CHUNK + 100]]);

  const env = {
    DATABASE_URL: server.databaseUrl,
    WORKERS: "1",
    BULK_LEASE_MS: String(LEASE_MS),
    // The gated chunk must still hold its lease when the test reads locked_by and freezes its
    // process: a lock timeout (default BULK_LEASE_MS) would put it back in backoff every 2 s.
    BULK_LOCK_TIMEOUT_MS: "60000",
    BULK_CHUNK_SIZE: String(CHUNK),
    BULK_POLL_MS: "200",
  };
  // Both start at once (as before); the stack stops them when the test ends.
  await using processes = new AsyncDisposableStack();
  const workers = (await Promise.all([spawnWorker(env), spawnWorker(env)])).map((worker) => processes.use(worker));
  const op = await start(server, tenant.agent, {
    actionType: "ADD_COMMENT",
    params: { body: "Looked at before the freeze." },
    targets: { kind: "ids", ids: targets },
  });
  await waitUntil(async () => await gateWaiters(db) > 0, {
    what: "a worker waits at the gated ticket",
    timeoutMs: 60_000,
  });
  const { locked_by } = await db.selectFrom("bulk_jobs").select("locked_by").where("operation_id", "=", op.id)
    .where("chunk_index", "=", gatedChunk).executeTakeFirstOrThrow();
  const frozen = workers.find((w) => locked_by?.includes(`:${w.pid}:`));
  if (!frozen) throw new Error(`chunk ${gatedChunk} is held by ${locked_by}, not by one of the worker processes`);

  frozen.signal("SIGSTOP");
  const stoppedAt = performance.now();
  // Its statement now gets its locks: the frozen process holds every row lock of the chunk,
  // idle in its transaction, and its lease is no longer renewed.
  await gate.release();

  const bound = LEASE_MS + IDLE_TX_TIMEOUT_MS + SLACK_MS;
  await waitFor(db, op.id, finished, bound + 30_000);
  const tookMs = Math.round(performance.now() - stoppedAt);
  console.log(
    `operation finished ${tookMs} ms after the SIGSTOP (lease ${LEASE_MS} + idle ${IDLE_TX_TIMEOUT_MS} ms)`,
  );
  expect(tookMs).toBeLessThan(bound);
  await expectAppliedOnce(server, op.id, targets);
  // The gated chunk was committed on a later claim than the frozen process's.
  const [attempts] = await chunkAttempts(db, op.id, gatedChunk, CHUNK);
  expect(attempts).toBeGreaterThan(1);

  // Resumed, the frozen process finds its session ended and its lease gone: it commits nothing.
  const before = await written(db, op.id);
  const linesBefore = frozen.lines.length;
  frozen.signal("SIGCONT");
  await waitUntil(() => frozen.lines.slice(linesBefore).some((l) => /lease of job|chunk \d+ failed/.test(l)), {
    what: "the resumed process reports that its chunk did not commit",
    timeoutMs: 30_000,
  });
  console.log(`resumed process: ${frozen.lines.slice(linesBefore).join(" | ")}`);
  expect(await written(db, op.id)).toEqual(before);
  await expectAppliedOnce(server, op.id, targets);
  // ... and carries on: it still answers SIGTERM with a clean exit.
  frozen.signal("SIGTERM");
  expect((await frozen.exited).code).toBe(0);
  expect(frozen.lines.filter((l) => /Uncaught|crashed/.test(l))).toEqual([]);
});
