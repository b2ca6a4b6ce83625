/**
 * Issue 9.7: cancelling a large operation is bounded work. The cancel request rewrites no
 * item, the chunk in flight (holding its tickets' row locks) commits only its own chunk,
 * and the never-run items end CANCELLED job by job, each in a transaction of its own of at
 * most one chunk; ending the operation reads no item. Driven by the real engine functions
 * (claimJob / runChunk) against the real PostgreSQL, so each step can be observed.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { CANCEL_INLINE_ITEMS, cancelOperation } from "../src/bulk/cancel.ts";
import { claimJob } from "../src/bulk/queue/claim.ts";
import { runChunk } from "../src/bulk/run-chunk.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { holdTicketLocks } from "./helpers/api.ts";
import { ledger, loadViewer, start, ticketIds, waitForLockWait } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { gql } from "./helpers/graphql.ts";
import { encodeId } from "../src/graphql/ids.ts";
import { startTestServer } from "./helpers/server.ts";

const CHUNK = 1000;

Deno.test("cancelling a large operation: no item rewritten by the request or by the chunk in flight", async () => {
  await using server = await startTestServer({ tickets: CHUNK, env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK) } });
  const { db, tenant } = server;
  // The first chunk's targets are real tickets; the rest are ids no ticket has (they never run).
  const total = CANCEL_INLINE_ITEMS * 3;
  const real = await ticketIds(db, tenant.id);
  await sql`UPDATE tickets SET status = 'OPEN', deleted_at = NULL`.execute(db);
  const targets = [...real, ...Array.from({ length: total - real.length }, (_, i) => String(9_000_000_000 + i))];
  const op = await start(server, tenant.agent, {
    actionType: "SET_PRIORITY",
    params: { priority: "URGENT" },
    targets: { kind: "ids", ids: targets },
  });
  const pending = async () => (await ledger(db, op.id)).outcomes.PENDING ?? 0;

  // Chunk 0 in flight: it read the operation, then waits for its tickets' row locks.
  const gate = await holdTicketLocks(server.databaseUrl, [real[0]]);
  const first = await claimJob(db, "test-worker", 60_000);
  expect(first?.chunk_index).toBe(0);
  const inFlight = runChunk(db, ticketsDomain, first!);
  await waitForLockWait(db, "the in-flight chunk");

  const requested = performance.now();
  const cancel = await cancelOperation(db, ticketsDomain, await loadViewer(db, tenant.agent), op.id);
  const cancelMs = performance.now() - requested;
  if (!cancel.ok) throw new Error(`cancel refused: ${cancel.message}`);
  expect(cancel.operation.status).toBe("CANCELLING");
  expect(await pending()).toBe(total); // the request rewrote no item

  await gate.release();
  const report = await inFlight;
  expect(report).toMatchObject({ items: CHUNK, finished: false });
  // The in-flight chunk committed its own items and nothing else.
  expect(await pending()).toBe(total - CHUNK);

  // The other jobs were made due now; each one ends its own range CANCELLED, one chunk at a time.
  let sweeps = 0;
  for (let left = total - CHUNK; left > 0; left -= CHUNK) {
    const job = await claimJob(db, "test-worker", 60_000);
    if (!job) throw new Error(`no job left to claim with ${left} items still PENDING`);
    const swept = await runChunk(db, ticketsDomain, job);
    sweeps++;
    expect(await pending()).toBe(left - CHUNK);
    expect(swept.finished).toBe(left === CHUNK);
  }
  expect(await claimJob(db, "test-worker", 60_000)).toBeUndefined();
  const ended = await expectConsistent(db, op.id);
  expect(ended).toMatchObject({ status: "CANCELLED", cancelled: total - CHUNK });
  expect(ended.succeeded + ended.skipped + ended.failed).toBe(CHUNK);
  console.log(`cancel request: ${cancelMs.toFixed(1)} ms for ${total} items; ${sweeps} sweep transactions`);

  // The API reports the never-run items as CANCELLED.
  const { data } = await gql(
    server.graphqlUrl,
    tenant.agent.token,
    `query($id: ID!) { bulkOperation(id: $id) { status counts { cancelled pending }
        items(first: 2, filter: { outcome: [CANCELLED] }) { edges { node { position outcome } } } } }`,
    { id: encodeId("BulkOperation", op.id) },
  );
  expect(data.bulkOperation).toEqual({
    status: "CANCELLED",
    counts: { cancelled: total - CHUNK, pending: 0 },
    items: {
      edges: [
        { node: { position: CHUNK, outcome: "CANCELLED" } },
        { node: { position: CHUNK + 1, outcome: "CANCELLED" } },
      ],
    },
  });
});

Deno.test("cancelling a large waiting operation: the request rewrites no item, the workers cancel it job by job", async () => {
  await using server = await startTestServer({ env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK) } });
  const { db, tenant } = server;
  const total = CANCEL_INLINE_ITEMS + CHUNK;
  const op = await start(server, tenant.agent, {
    actionType: "SET_PRIORITY",
    params: { priority: "URGENT" },
    targets: { kind: "ids", ids: Array.from({ length: total }, (_, i) => String(i + 1)) },
    scheduledAt: new Date(Date.now() + 3_600_000),
  });
  const cancel = await cancelOperation(db, ticketsDomain, await loadViewer(db, tenant.agent), op.id);
  if (!cancel.ok) throw new Error(`cancel refused: ${cancel.message}`);
  expect(cancel.operation).toMatchObject({ status: "CANCELLING", cancelled: 0 });
  expect((await ledger(db, op.id)).outcomes).toEqual({ PENDING: total });
  // The scheduled operation's jobs were made due: each claim cancels one chunk.
  let jobs = 0;
  for (let job = await claimJob(db, "test-worker", 60_000); job; job = await claimJob(db, "test-worker", 60_000)) {
    await runChunk(db, ticketsDomain, job);
    jobs++;
  }
  expect(jobs).toBe(total / CHUNK);
  expect(await expectConsistent(db, op.id)).toMatchObject({
    status: "CANCELLED",
    cancelled: total,
    started_at: null,
    first_chunk_at: null,
  });
});
