/**
 * Lock order: admission serialises a user's starts and admissions on the user's row without
 * blocking foreign-key checks on it (FOR NO KEY UPDATE). With FOR UPDATE, a cancel (operation
 * row locked, then an event that references the user) and an admission (user row locked,
 * then an UPDATE of that operation) deadlocked, and the cancelled operation stayed RUNNING.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { admissionStatus, admitUser } from "../src/bulk/admit.ts";
import { cancelOperation } from "../src/bulk/cancel.ts";
import type { OperationRow } from "../src/bulk/operation.ts";
import { createDb } from "../src/db/database.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { loadViewer, start, ticketIds } from "./helpers/bulk.ts";
import { connectClient } from "./helpers/pg_client.ts";
import { startTestServer } from "./helpers/server.ts";

const ROUNDS = 200;
const CAP = 1;

Deno.test("200 rounds of concurrent cancel, admission and start for one user: no deadlock, cap kept", async () => {
  await using server = await startTestServer({
    tickets: 10,
    // 600 starts in a few seconds: the per-user start caps (issue 15) are not what this test is about.
    env: {
      WORKERS: "0",
      BULK_MAX_ACTIVE_PER_USER: String(CAP),
      BULK_MAX_STARTS_PER_MINUTE: "100000",
      BULK_MAX_WAITING_PER_USER: "100000",
    },
  });
  // Enough connections for every concurrent call of a round to run at once.
  await using db = createDb(server.databaseUrl, { poolSize: 8, applicationName: "test lock order" });
  const user = server.tenant.agent;
  const viewer = await loadViewer(db, user);
  const ids = (await ticketIds(db, server.tenant.id)).slice(0, 3);
  // The number of active operations of the user, recorded at every commit that changed a
  // status. Deferred to commit time, when the changing transaction still holds its locks.
  await sql`CREATE TABLE active_seen (active int NOT NULL)`.execute(db);
  await sql`
      CREATE FUNCTION record_active() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO active_seen SELECT count(*) FROM bulk_operations
          WHERE created_by = NEW.created_by AND status IN ('RUNNING', 'CANCELLING');
        RETURN NULL;
      END $$`.execute(db);
  await sql`
      CREATE CONSTRAINT TRIGGER record_active AFTER INSERT OR UPDATE OF status ON bulk_operations
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION record_active()`.execute(db);

  const startOne = (description: string) =>
    start({ ...server, db }, user, {
      actionType: "SET_PRIORITY",
      params: { priority: "HIGH" },
      targets: { kind: "ids", ids },
      description,
    });
  // What the cancel mutation does: cancel, then admit the creator's next operation if it ended.
  const cancel = async (operation: OperationRow) => {
    const result = await cancelOperation(db, ticketsDomain, viewer, operation.id);
    if (!result.ok) throw new Error(`cancel of ${operation.id} refused: ${result.code}`);
    if (result.operation.finished_at) await admitUser(db, user.id, CAP);
  };

  const errors: string[] = [];
  const cancelled: string[] = [];
  const started = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    const running = await startOne(`round ${round} a`);
    const queued = await startOne(`round ${round} b`);
    cancelled.push(running.id, queued.id);
    const calls = await Promise.allSettled([
      cancel(running),
      cancel(queued),
      admitUser(db, user.id, CAP),
      startOne(`round ${round} c`).then(async (late) => {
        cancelled.push(late.id);
        await cancel(late);
      }),
    ]);
    for (const call of calls) {
      if (call.status === "rejected") {
        errors.push(`${(call.reason as { code?: string }).code ?? ""} ${(call.reason as Error).message}`);
      }
    }
  }
  console.log(`${ROUNDS} rounds in ${Math.round(performance.now() - started)} ms`);

  expect(errors.filter((e) => /deadlock/.test(e))).toEqual([]);
  expect(errors).toEqual([]);
  const { rows: statuses } = await sql<{ status: string; n: number }>`
      SELECT status, count(*)::int AS n FROM bulk_operations WHERE id = ANY(${cancelled}::uuid[]) GROUP BY status`
    .execute(db);
  expect(statuses).toEqual([{ status: "CANCELLED", n: ROUNDS * 3 }]);
  const { rows: [seen] } = await sql<{ most: number; commits: number }>`
      SELECT max(active)::int AS most, count(*)::int AS commits FROM active_seen`.execute(db);
  expect(seen.commits).toBeGreaterThan(ROUNDS * 3);
  expect(seen.most).toBeLessThanOrEqual(CAP);
});

Deno.test("a foreign-key check on a user does not wait for that user's admission lock", async () => {
  await using server = await startTestServer({ tickets: 3, env: { WORKERS: "0" } });
  const { db, tenant } = server;
  const op = await start(server, tenant.agent, {
    actionType: "SET_PRIORITY",
    params: { priority: "LOW" },
    targets: { kind: "ids", ids: await ticketIds(db, tenant.id) },
  });
  await using holder = await connectClient(server.databaseUrl);
  await holder.query("SELECT pg_advisory_lock(42)");
  // A start of this user in progress: admission has locked the user's row and not committed.
  const blocked = db.transaction().execute(async (tx) => {
    await admissionStatus(tx, tenant.agent.id, null, 2);
    await sql`SELECT pg_advisory_xact_lock(42)`.execute(tx); // held open until the holder lets go
  });
  // Wait until the start transaction holds the user row and queues on the advisory lock.
  const deadline = Date.now() + 10_000;
  while (true) {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock(42)%'`
      .execute(db);
    if (rows[0].n === 1) break;
    if (Date.now() > deadline) throw new Error("the start transaction never reached the advisory lock");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // An event naming the user as actor (what cancel writes) needs FOR KEY SHARE on the user row.
  const began = performance.now();
  await db.transaction().execute(async (tx) => {
    await sql`SET LOCAL lock_timeout = '2s'`.execute(tx);
    await tx.insertInto("bulk_operation_events")
      .values({ operation_id: op.id, type: "NOTE", actor_id: tenant.agent.id, data: "{}" }).execute();
  });
  expect(performance.now() - began).toBeLessThan(1000);
  await holder.query("SELECT pg_advisory_unlock(42)");
  await blocked;
});
