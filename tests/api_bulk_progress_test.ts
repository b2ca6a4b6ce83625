/**
 * bulkOperationProgress over real transports: graphql-ws (createClient over a socket) and
 * Yoga's SSE (fetch with Accept: text/event-stream). Each live test pauses the operation
 * at known positions by holding a row lock on a ticket of a later chunk (WORKERS=1, chunks
 * run in order), so "a progress event arrives before the end" is deterministic, not a race.
 */
import { expect } from "expect";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { finished, ticketIds, waitFor } from "./helpers/bulk.ts";
import { gql, wsClient } from "./helpers/graphql.ts";
import {
  CANCEL,
  type Counts,
  holdTicketLocks,
  ledgerCounts,
  type OperationView,
  PROGRESS,
  record,
  sse,
  startOk,
  ticketGid,
  within,
} from "./helpers/api.ts";
import { startTestServer } from "./helpers/server.ts";
import { abortOnExit } from "./helpers/sockets.ts";
import { MIN_INTERVAL_MS } from "../src/graphql/progress.ts";

type ProgressEvent = { bulkOperationProgress: OperationView };

const TERMINAL = ["COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"];
const CHUNK = 100;

/** Every event's counts add up, and counters never go backwards. */
function expectCoherent(views: OperationView[]): void {
  for (const [i, view] of views.entries()) {
    const c = view.counts;
    expect(c.succeeded + c.failed + c.skipped + c.cancelled).toBe(c.processed);
    expect(c.processed + c.pending).toBe(c.total);
    if (i > 0) {
      const p = views[i - 1].counts;
      for (const key of ["succeeded", "failed", "skipped", "cancelled", "processed"] as (keyof Counts)[]) {
        expect(c[key]).toBeGreaterThanOrEqual(p[key]);
      }
    }
  }
  // Only the last event is terminal.
  expect(views.slice(0, -1).filter((v) => TERMINAL.includes(v.status))).toEqual([]);
}

function minGapMs(times: number[]): number {
  let gap = Infinity;
  for (let i = 1; i < times.length; i++) gap = Math.min(gap, times[i] - times[i - 1]);
  return gap;
}

Deno.test("start, then subscribe over graphql-ws: snapshot, progress, terminal event equal to the ledger, completion", async () => {
  await using server = await startTestServer({ tickets: 1000, env: { WORKERS: "1", BULK_CHUNK_SIZE: String(CHUNK) } });
  await using client = wsClient(server.wsUrl, server.tenant.agent.token);
  const ids = await ticketIds(server.db, server.tenant.id);
  // Pause at chunk 4 (positions 400-499) and at chunk 7 (700-799).
  await using at400Gate = await holdTicketLocks(server.databaseUrl, [ids[450]]);
  await using at700Gate = await holdTicketLocks(server.databaseUrl, [ids[750]]);

  const op = await startOk(server, server.tenant.agent, {
    targets: { ids: ids.map(ticketGid) },
    action: { setPriority: { priority: "HIGH" } },
  });
  expect(op.counts.total).toBe(1000);
  const rec = record<ProgressEvent>(client, PROGRESS, { id: op.id });

  const at400 = await rec.waitFor((e) => e.bulkOperationProgress.counts.processed === 400);
  expect(at400.bulkOperationProgress.status).toBe("RUNNING");
  await at400Gate.release();
  const at700 = await rec.waitFor((e) => e.bulkOperationProgress.counts.processed === 700);
  expect(at700.bulkOperationProgress.status).toBe("RUNNING");
  expect(at700.bulkOperationProgress.percent).toBe(70);
  await at700Gate.release();
  await within(rec.done, 30_000, "the subscription completes after the terminal event");

  expect(rec.errors).toEqual([]);
  expect(rec.completed).toBe(true);
  const views = rec.events.map((e) => e.data.bulkOperationProgress);
  // The snapshot came first (the operation was paused at 400 at the latest).
  expect(views[0].id).toBe(op.id);
  expect(views[0].counts.processed).toBeLessThanOrEqual(400);
  expect(views.length).toBeGreaterThanOrEqual(3);
  expectCoherent(views);

  const last = views.at(-1)!;
  const row = await expectConsistent(server.db, op.dbId);
  expect(last.status).toBe(row.status);
  expect(last.percent).toBe(100);
  const ledger = await ledgerCounts(server.db, op.dbId);
  expect(last.counts).toEqual({ ...ledger, processed: 1000, pending: 0 });
  // Closed tickets (every fifth) are read-only: FORBIDDEN; the error summary shows it.
  expect(last.counts.failed).toBe(200);
  expect(last.errorSummary).toContainEqual({ code: "FORBIDDEN", count: 200 });
  expect(last.status).toBe("COMPLETED_WITH_ERRORS");
  console.log(
    `${views.length} events; processed: ${views.map((v) => v.counts.processed).join(", ")}; ` +
      `min gap between events ${
        minGapMs(rec.events.map((e) => e.at)).toFixed(0)
      } ms (coalescing: ~${MIN_INTERVAL_MS} ms)`,
  );
});

Deno.test("subscribing after the finish gives exactly one event (the terminal state), then completes", async () => {
  await using server = await startTestServer({ tickets: 50, env: { WORKERS: "1" } });
  await using client = wsClient(server.wsUrl, server.tenant.viewer.token);
  const ids = await ticketIds(server.db, server.tenant.id);
  const op = await startOk(server, server.tenant.agent, {
    targets: { ids: ids.map(ticketGid) },
    action: { setCategory: { category: "BILLING" } },
  });
  const row = await waitFor(server.db, op.dbId, finished);
  // A viewer may watch (read access) even though it may not start.
  const rec = record<ProgressEvent>(client, PROGRESS, { id: op.id });
  await within(rec.done, 10_000, "the subscription completes");
  expect(rec.errors).toEqual([]);
  expect(rec.completed).toBe(true);
  expect(rec.events.length).toBe(1);
  const view = rec.events[0].data.bulkOperationProgress;
  expect(view.status).toBe(row.status);
  expect(view.counts).toEqual({ ...(await ledgerCounts(server.db, op.dbId)), processed: 50, pending: 0 });
});

Deno.test("a cancel seen live: CANCELLING while the chunk in flight finishes, then CANCELLED with exact counts", async () => {
  await using server = await startTestServer({ tickets: 1000, env: { WORKERS: "1", BULK_CHUNK_SIZE: String(CHUNK) } });
  await using client = wsClient(server.wsUrl, server.tenant.agent.token);
  const ids = await ticketIds(server.db, server.tenant.id);
  await using gate = await holdTicketLocks(server.databaseUrl, [ids[350]]); // chunk 3 (300-399) stays in flight
  const op = await startOk(server, server.tenant.agent, {
    targets: { ids: ids.map(ticketGid) },
    action: { setCategory: { category: "TECHNICAL" } },
  });
  const rec = record<ProgressEvent>(client, PROGRESS, { id: op.id });
  await rec.waitFor((e) => e.bulkOperationProgress.counts.processed === 300);

  const cancel = await gql(server.graphqlUrl, server.tenant.agent.token, CANCEL, { id: op.id });
  expect(cancel.errors).toBeUndefined();
  expect(cancel.data.cancelBulkOperation.userErrors).toEqual([]);
  // Chunk 3 is in flight (blocked on the row lock): the operation cannot end yet.
  expect(cancel.data.cancelBulkOperation.bulkOperation.status).toBe("CANCELLING");
  expect(cancel.data.cancelBulkOperation.bulkOperation.cancelRequestedAt).not.toBeNull();
  const cancelling = await rec.waitFor((e) => e.bulkOperationProgress.status === "CANCELLING");
  expect(cancelling.bulkOperationProgress.counts.processed).toBe(300);

  await gate.release(); // the in-flight chunk finishes; it was the last job left
  await within(rec.done, 30_000, "the subscription completes after CANCELLED");
  expect(rec.errors).toEqual([]);
  const views = rec.events.map((e) => e.data.bulkOperationProgress);
  expectCoherent(views);
  const last = views.at(-1)!;
  expect(last.status).toBe("CANCELLED");
  const row = await expectConsistent(server.db, op.dbId);
  expect(row.status).toBe("CANCELLED");
  // Chunks 0-3 applied (the in-flight one included), the 600 others never started.
  expect(last.counts).toEqual({ ...(await ledgerCounts(server.db, op.dbId)), processed: 1000, pending: 0 });
  expect(last.counts.cancelled).toBe(600);
  expect(last.counts.succeeded + last.counts.failed + last.counts.skipped).toBe(400);
  console.log(`cancel seen live: ${views.map((v) => `${v.status}@${v.counts.processed}`).join(" -> ")}`);
});

Deno.test("bulkOperationProgress over SSE through Yoga: snapshot, progress, terminal event, end of stream", async () => {
  await using server = await startTestServer({ tickets: 500, env: { WORKERS: "1", BULK_CHUNK_SIZE: String(CHUNK) } });
  using abort = abortOnExit();
  const ids = await ticketIds(server.db, server.tenant.id);
  await using gate = await holdTicketLocks(server.databaseUrl, [ids[250]]); // pauses at 200
  const op = await startOk(server, server.tenant.agent, {
    targets: { ids: ids.map(ticketGid) },
    action: { setPriority: { priority: "LOW" } },
  });
  const views: OperationView[] = [];
  const kinds: string[] = [];
  for await (
    const event of sse(server.graphqlUrl, server.tenant.agent.token, PROGRESS, { id: op.id }, abort.signal)
  ) {
    kinds.push(event.event);
    if (event.event === "complete") break;
    const body = JSON.parse(event.data);
    expect(body.errors).toBeUndefined();
    views.push(body.data.bulkOperationProgress);
    if (views.at(-1)!.counts.processed === 200) await gate.release();
  }
  expect(kinds.at(-1)).toBe("complete");
  expect(kinds.slice(0, -1).every((k) => k === "next")).toBe(true);
  expect(views.length).toBeGreaterThanOrEqual(2);
  expect(views.some((v) => v.counts.processed === 200 && v.status === "RUNNING")).toBe(true);
  expectCoherent(views);
  const last = views.at(-1)!;
  const row = await expectConsistent(server.db, op.dbId);
  expect(last.status).toBe(row.status);
  expect(last.counts).toEqual({ ...(await ledgerCounts(server.db, op.dbId)), processed: 500, pending: 0 });
  console.log(`SSE: ${views.length} events, processed ${views.map((v) => v.counts.processed).join(", ")}`);
});
