/**
 * Cancel and scheduling: once a cancel commits no new chunk starts (only the one in flight
 * finishes), the rest ends CANCELLED with exact counts; a scheduled operation does nothing
 * before its time and can be cancelled while it waits.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { cancelOperation } from "../src/bulk/cancel.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { finished, loadViewer, operation, start, ticketIds, waitFor } from "./helpers/bulk.ts";
import {
  expectConsistent,
  type Expected,
  expectedOutcomes,
  expectLedger,
  setsField,
  sleep,
  ticketStates,
} from "./helpers/bulk_checks.ts";
import { startTestServer } from "./helpers/server.ts";

const toTechnical = setsField("category", "TECHNICAL");

Deno.test("cancel mid-run: the in-flight chunk finishes, nothing new starts, the rest ends CANCELLED", async () => {
  const CHUNK = 200;
  await using server = await startTestServer({
    tickets: 20_000,
    env: { WORKERS: "1", BULK_CHUNK_SIZE: String(CHUNK) },
  });
  const { db, tenant } = server;
  const ids = await ticketIds(db, tenant.id);
  const before = await ticketStates(db, tenant.id);
  const ifRun = expectedOutcomes(ids, before, toTechnical);
  const op = await start(server, tenant.agent, {
    actionType: "SET_CATEGORY",
    params: { category: "TECHNICAL" },
    targets: { kind: "ids", ids },
  });
  const progressed = await waitFor(db, op.id, (o) => o.succeeded + o.failed + o.skipped >= 2000 || finished(o));
  expect(finished(progressed)).toBe(false);

  const viewer = await loadViewer(db, tenant.admin);
  const cancel = await cancelOperation(db, ticketsDomain, viewer, op.id);
  if (!cancel.ok) throw new Error(`cancel refused: ${cancel.message}`);
  expect(["CANCELLING", "CANCELLED"]).toContain(cancel.operation.status);
  expect(cancel.operation.cancel_requested_at).not.toBeNull();
  const done = await waitFor(db, op.id, finished);
  const consistent = await expectConsistent(db, op.id);
  expect(consistent.status).toBe("CANCELLED");
  expect(done.cancelled).toBeGreaterThan(0);
  expect(done.succeeded + done.failed + done.skipped).toBeGreaterThanOrEqual(2000);
  console.log(
    `cancelled after ${progressed.succeeded + progressed.failed + progressed.skipped} items seen, ` +
      `${done.total - done.cancelled} applied, ${done.cancelled} cancelled`,
  );

  // Each item either got the outcome it would have had, or CANCELLED; whole chunks only.
  const { rows } = await sql<{ position: number; outcome: string; error_code: string | null }>`
      SELECT position, outcome, error_code FROM bulk_operation_items WHERE operation_id = ${op.id}
      ORDER BY position`.execute(db);
  const asRun = rows.map((r) =>
    r.outcome === "CANCELLED" ? { outcome: "CANCELLED", code: null } as Expected : ifRun[r.position]
  );
  await expectLedger(db, op.id, asRun);
  const chunkStates = new Map<number, Set<boolean>>();
  for (const r of rows) {
    const chunk = Math.floor(r.position / CHUNK);
    chunkStates.set(chunk, (chunkStates.get(chunk) ?? new Set()).add(r.outcome === "CANCELLED"));
  }
  expect([...chunkStates.values()].filter((s) => s.size > 1)).toEqual([]);

  // After the cancel's transaction began, at most the one in-flight chunk (WORKERS=1) was applied.
  const { rows: [late] } = await sql<{ items: number; chunks: number }>`
      SELECT count(*)::int AS items, count(DISTINCT i.position / ${CHUNK})::int AS chunks
      FROM bulk_operation_items i, bulk_operation_events e
      WHERE i.operation_id = ${op.id} AND e.operation_id = ${op.id} AND e.type = 'CANCEL_REQUESTED'
        AND i.outcome <> 'CANCELLED' AND i.processed_at >= e.created_at`.execute(db);
  console.log(`items applied after the cancel began: ${late.items} (${late.chunks} chunk)`);
  expect(late.chunks).toBeLessThanOrEqual(1);
  expect(late.items).toBeLessThanOrEqual(CHUNK);

  // The tickets: exactly the SUCCEEDED items changed, cancelled ones are untouched.
  const after = await ticketStates(db, tenant.id);
  const wrong = rows.flatMap((r) => {
    const was = before.get(ids[r.position])!;
    const now = after.get(ids[r.position])!;
    const right = r.outcome === "SUCCEEDED"
      ? now.category === "TECHNICAL" && now.version === was.version + 1
      : now.category === was.category && now.version === was.version;
    return right ? [] : [{ position: r.position, outcome: r.outcome, was, now }];
  });
  expect(wrong.slice(0, 5)).toEqual([]);

  // Cancelling again: it already ended. Another tenant cannot see it at all.
  expect(await cancelOperation(db, ticketsDomain, viewer, op.id)).toMatchObject({
    ok: false,
    code: "ALREADY_FINISHED",
  });
  const outsider = await loadViewer(db, server.otherTenant.admin);
  expect(await cancelOperation(db, ticketsDomain, outsider, op.id)).toMatchObject({ ok: false, code: "NOT_FOUND" });
  expect(await operation(db, op.id)).toEqual(consistent);
});

Deno.test("a scheduled operation waits for its time; another is cancelled while it waits", async () => {
  await using server = await startTestServer({
    tickets: 400,
    env: { WORKERS: "1", BULK_CHUNK_SIZE: "50", BULK_POLL_MS: "100" },
  });
  const { db, tenant } = server;
  const ids = await ticketIds(db, tenant.id);
  const before = await ticketStates(db, tenant.id);
  const targets = ids.slice(0, 200);
  const waitingTargets = ids.slice(200);
  // 3 s ahead: the two starts below take ~50 ms on an idle machine; the rest of the window is
  // margin for a loaded one, so the watch below sees the operation waiting more than once.
  const scheduledAt = new Date(Date.now() + 3000);
  const op = await start(server, tenant.agent, {
    actionType: "SET_CATEGORY",
    params: { category: "TECHNICAL" },
    targets: { kind: "ids", ids: targets },
    scheduledAt,
  });
  expect(op.status).toBe("SCHEDULED");
  expect(op.started_at).toBeNull();
  const waiting = await start(server, tenant.admin, {
    actionType: "DELETE",
    params: {},
    targets: { kind: "ids", ids: waitingTargets },
    // Due before the first one: the maintenance tick that admits the first would admit it too.
    scheduledAt: new Date(scheduledAt.getTime() - 500),
  });
  expect(waiting.status).toBe("SCHEDULED");

  // Cancel the second one while it waits: it ends at once, every item CANCELLED.
  const cancelled = await cancelOperation(db, ticketsDomain, await loadViewer(db, tenant.admin), waiting.id);
  if (!cancelled.ok) throw new Error(`cancel refused: ${cancelled.message}`);
  expect(cancelled.operation.status).toBe("CANCELLED");

  // Nothing happens before scheduledAt (watched until just before it).
  let checks = 0;
  while (Date.now() < scheduledAt.getTime() - 100) {
    const now = await operation(db, op.id);
    expect(now.status).toBe("SCHEDULED");
    expect(now.succeeded + now.failed + now.skipped + now.cancelled).toBe(0);
    checks++;
    await sleep(50);
  }
  expect(checks).toBeGreaterThan(0);
  const { rows: [pending] } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM bulk_operation_ledger WHERE operation_id = ${op.id} AND outcome = 'PENDING'`
    .execute(db);
  expect(pending.n).toBe(200);

  await waitFor(db, op.id, finished);
  const done = await expectConsistent(db, op.id);
  expect(done.status).toBe("COMPLETED_WITH_ERRORS"); // closed tickets are FORBIDDEN
  await expectLedger(db, op.id, expectedOutcomes(targets, before, toTechnical));
  const { rows: [times] } = await sql<{ first: Date }>`
      SELECT min(processed_at) AS first FROM bulk_operation_items WHERE operation_id = ${op.id}`.execute(db);
  expect(done.started_at!.getTime()).toBeGreaterThanOrEqual(scheduledAt.getTime());
  expect(times.first.getTime()).toBeGreaterThanOrEqual(scheduledAt.getTime());
  console.log(`scheduled operation started ${done.started_at!.getTime() - scheduledAt.getTime()} ms after its time`);

  // The cancelled one was due 500 ms before the first one's time (and so before its start,
  // asserted above), so the tick that admitted the first (and every tick since) had it in
  // view: it stays CANCELLED, its tickets untouched.
  const ended = await expectConsistent(db, waiting.id);
  expect(ended).toMatchObject({ status: "CANCELLED", cancelled: 200, succeeded: 0, started_at: null });
  await expectLedger(db, waiting.id, waitingTargets.map(() => ({ outcome: "CANCELLED", code: null })));
  const after = await ticketStates(db, tenant.id);
  expect(waitingTargets.filter((id) => after.get(id)!.deleted || after.get(id)!.version !== before.get(id)!.version))
    .toEqual([]);
});
