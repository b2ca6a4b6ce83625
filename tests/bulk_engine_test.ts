/**
 * Exact counts: every item's outcome is computed from the tickets' state before the
 * operation runs and compared position by position with the ledger; the counters, the
 * error counts and the tickets themselves must agree with it.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { finished, start, ticketIds, waitFor } from "./helpers/bulk.ts";
import {
  countersOf,
  expectConsistent,
  type Expected,
  expectedOutcomes,
  expectLedger,
  failed,
  ok,
  positionsOf,
  setsField,
  skippedNoChange,
  tally,
  type TicketState,
  ticketStates,
  wrongChanges,
} from "./helpers/bulk_checks.ts";
import { startTestServer } from "./helpers/server.ts";

const CHUNK = 500;

/** SET_STATUS RESOLVED: OPEN/PENDING move, RESOLVED is already there, CLOSED -> RESOLVED is not a transition. */
const toResolved = (t: TicketState): Expected =>
  t.status === "RESOLVED" ? skippedNoChange : t.status === "CLOSED" ? failed("INVALID_TRANSITION") : ok;

Deno.test("a 10,000-item operation with every failure cause mixed in ends with exact counts", async () => {
  await using server = await startTestServer({
    tickets: 10_000,
    env: { WORKERS: "2", BULK_CHUNK_SIZE: String(CHUNK), BULK_MAX_ATTEMPTS: "2" },
  });
  const { db, tenant, otherTenant } = server;
  const ids = await ticketIds(db, tenant.id);
  // DELETED: soft-delete tickets spread over every chunk.
  const deleted = ids.filter((_, i) => i % 97 === 3);
  await sql`UPDATE tickets SET deleted_at = now() WHERE id = ANY(${deleted}::bigint[])`.execute(db);
  // NOT_FOUND: another tenant's ticket and an id that does not exist.
  const { rows: [theirs] } = await sql<{ id: string }>`
      INSERT INTO tickets (tenant_id, title) VALUES (${otherTenant.id}, 'theirs') RETURNING id::text AS id`
    .execute(db);
  const missing = "999999999";
  const before = await ticketStates(db, tenant.id);

  // INTERNAL: a ticket whose UPDATE always raises, so its whole chunk fails on every attempt.
  const poison = ids.find((id, i) => i >= 4000 && before.get(id)!.status === "OPEN" && !before.get(id)!.deleted)!;
  await sql`
      CREATE FUNCTION poison_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'poisoned ticket %', NEW.id; END $$`.execute(db);
  await sql`
      CREATE TRIGGER poison_ticket BEFORE UPDATE ON tickets FOR EACH ROW
      WHEN (NEW.id = ${sql.lit(Number(poison))}) EXECUTE FUNCTION poison_ticket()`.execute(db);

  const targets = [...ids, theirs.id, missing, ids[5]]; // ids[5] again: de-duplicated
  const positions = positionsOf(targets);
  const poisonedChunk = Math.floor(positions.indexOf(poison) / CHUNK);
  const expected = expectedOutcomes(targets, before, toResolved).map((e, position) =>
    Math.floor(position / CHUNK) === poisonedChunk ? failed("INTERNAL") : e
  );
  const want = tally(expected);
  // Every cause is really in the mix.
  expect(want.codes).toEqual({
    NOT_FOUND: 2,
    DELETED: expect.any(Number),
    INVALID_TRANSITION: expect.any(Number),
    NO_CHANGE: expect.any(Number),
    INTERNAL: CHUNK,
  });
  for (const n of Object.values(want.codes)) expect(n).toBeGreaterThan(0);

  const started = performance.now();
  const op = await start(server, tenant.agent, {
    actionType: "SET_STATUS",
    params: { status: "RESOLVED" },
    targets: { kind: "ids", ids: targets },
  });
  expect(op.total).toBe(10_002);
  await waitFor(db, op.id, finished, 60_000);
  console.log(`10,002 items with a poisoned chunk: ${Math.round(performance.now() - started)} ms`);

  const done = await expectConsistent(db, op.id);
  expect(done.status).toBe("COMPLETED_WITH_ERRORS");
  expect(countersOf(done)).toEqual(want.outcomes);
  expect(done.error_counts).toEqual(want.codes);
  await expectLedger(db, op.id, expected);

  // The poisoned chunk was tried BULK_MAX_ATTEMPTS times, then given up once. The ledger and the event
  // are client-visible: masked like an API error (the database's text stays in the server log).
  const { rows: internal } = await sql<{ attempts: number; message: string; n: number }>`
      SELECT attempts, error_message AS message, count(*)::int AS n FROM bulk_operation_items
      WHERE operation_id = ${op.id} AND error_code = 'INTERNAL' GROUP BY 1, 2`.execute(db);
  expect(internal).toEqual([
    { attempts: 2, message: "Gave up after 2 attempts: internal error.", n: CHUNK },
  ]);
  const { rows: chunkFailed } = await sql<{ data: { chunk: number; attempts: number } }>`
      SELECT data FROM bulk_operation_events WHERE operation_id = ${op.id} AND type = 'CHUNK_FAILED'`.execute(db);
  expect(chunkFailed.map((e) => e.data)).toEqual([
    { chunk: poisonedChunk, attempts: 2 },
  ]);

  // The tickets: exactly the SUCCEEDED ones changed, each exactly once.
  const after = await ticketStates(db, tenant.id);
  expect(wrongChanges(positions, expected, { before, after }, "status", "RESOLVED")).toEqual([]);

  // Before/after images of the applied items.
  const { rows: [images] } = await sql<{ bad: number; good: number }>`
      SELECT count(*) FILTER (WHERE after ->> 'status' <> 'RESOLVED'
                                 OR (after ->> 'version')::int <> (before ->> 'version')::int + 1
                                 OR before ->> 'status' NOT IN ('OPEN', 'PENDING'))::int AS bad,
             count(*)::int AS good
      FROM bulk_operation_items WHERE operation_id = ${op.id} AND outcome = 'SUCCEEDED'`.execute(db);
  expect(images).toEqual({ bad: 0, good: want.outcomes.SUCCEEDED });

  // FORBIDDEN: closed tickets are read-only for SET_PRIORITY (a second operation, no poison now).
  await sql`DROP TRIGGER poison_ticket ON tickets`.execute(db);
  const before2 = await ticketStates(db, tenant.id);
  const targets2 = [...ids, missing];
  const expected2 = expectedOutcomes(
    targets2,
    before2,
    setsField("priority", "HIGH"),
  );
  const want2 = tally(expected2);
  for (const code of ["FORBIDDEN", "NO_CHANGE", "DELETED", "NOT_FOUND"]) expect(want2.codes[code]).toBeGreaterThan(0);
  const op2 = await start(server, tenant.agent, {
    actionType: "SET_PRIORITY",
    params: { priority: "HIGH" },
    targets: { kind: "ids", ids: targets2 },
  });
  await waitFor(db, op2.id, finished, 60_000);
  const done2 = await expectConsistent(db, op2.id);
  expect(done2.status).toBe("COMPLETED_WITH_ERRORS");
  expect(countersOf(done2)).toEqual(want2.outcomes);
  expect(done2.error_counts).toEqual(want2.codes);
  await expectLedger(db, op2.id, expected2);
  const after2 = await ticketStates(db, tenant.id);
  expect(wrongChanges(targets2, expected2, { before: before2, after: after2 }, "priority", "HIGH")).toEqual([]);
});

Deno.test("two concurrent operations over overlapping tickets both finish with exact counts", async () => {
  await using server = await startTestServer({
    tickets: 10_000,
    env: { WORKERS: "2", BULK_CHUNK_SIZE: String(CHUNK) },
  });
  const { db, tenant } = server;
  const ids = await ticketIds(db, tenant.id);
  await sql`UPDATE tickets SET deleted_at = now() WHERE id = ANY(${ids.filter((_, i) => i % 101 === 7)}::bigint[])`
    .execute(db);
  const before = await ticketStates(db, tenant.id);
  const targetsA = ids.slice(0, 7000);
  const targetsB = ids.slice(3000);
  // Different fields, so each item's outcome does not depend on which operation gets there first.
  const expectedA = expectedOutcomes(
    targetsA,
    before,
    setsField("priority", "URGENT"),
  );
  const expectedB = expectedOutcomes(
    targetsB,
    before,
    setsField("category", "BILLING"),
  );
  const [a, b] = await Promise.all([
    start(server, tenant.agent, {
      actionType: "SET_PRIORITY",
      params: { priority: "URGENT" },
      targets: { kind: "ids", ids: targetsA },
    }),
    start(server, tenant.admin, {
      actionType: "SET_CATEGORY",
      params: { category: "BILLING" },
      targets: { kind: "ids", ids: targetsB },
    }),
  ]);
  await Promise.all([waitFor(db, a.id, finished, 60_000), waitFor(db, b.id, finished, 60_000)]);

  const doneA = await expectConsistent(db, a.id);
  const doneB = await expectConsistent(db, b.id);
  expect(doneA.status).toBe("COMPLETED_WITH_ERRORS");
  expect(doneB.status).toBe("COMPLETED_WITH_ERRORS");
  expect(countersOf(doneA)).toEqual(tally(expectedA).outcomes);
  expect(countersOf(doneB)).toEqual(tally(expectedB).outcomes);
  expect(doneA.error_counts).toEqual(tally(expectedA).codes);
  expect(doneB.error_counts).toEqual(tally(expectedB).codes);
  await expectLedger(db, a.id, expectedA);
  await expectLedger(db, b.id, expectedB);
  // They really ran at the same time (chunks interleave by chunk index).
  expect(doneA.first_chunk_at!.getTime()).toBeLessThanOrEqual(doneB.finished_at!.getTime());
  expect(doneB.first_chunk_at!.getTime()).toBeLessThanOrEqual(doneA.finished_at!.getTime());

  // Each ticket carries both changes that applied to it, and its version counts them.
  const applied = (expected: Expected[], targets: string[]) =>
    new Set(targets.filter((_, position) => expected[position].outcome === "SUCCEEDED"));
  const appliedA = applied(expectedA, targetsA);
  const appliedB = applied(expectedB, targetsB);
  const after = await ticketStates(db, tenant.id);
  const wrong = ids.flatMap((id) => {
    const was = before.get(id)!;
    const now = after.get(id)!;
    const right = now.priority === (appliedA.has(id) ? "URGENT" : was.priority) &&
      now.category === (appliedB.has(id) ? "BILLING" : was.category) &&
      now.version === was.version + Number(appliedA.has(id)) + Number(appliedB.has(id));
    return right ? [] : [{ id, was, now }];
  });
  expect(wrong.slice(0, 5)).toEqual([]);
  expect([...appliedA].filter((id) => appliedB.has(id)).length).toBeGreaterThan(0);
});
