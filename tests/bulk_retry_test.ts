/**
 * Transient errors: a chunk whose transaction hits a serialization failure (SQLSTATE 40001)
 * is rolled back and retried with backoff; the operation completes as if nothing happened.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { finished, start, ticketIds, waitFor } from "./helpers/bulk.ts";
import {
  counterValue,
  createCounter,
  expectConsistent,
  expectedOutcomes,
  expectLedger,
  ok,
  ticketStates,
} from "./helpers/bulk_checks.ts";
import { startTestServer } from "./helpers/server.ts";

const CHUNK = 100;

Deno.test("a chunk failing with serialization_failure twice is retried with backoff and the operation completes", async () => {
  await using server = await startTestServer({ tickets: 1000, env: { WORKERS: "2", BULK_CHUNK_SIZE: String(CHUNK) } });
  const { db, tenant } = server;
  const ids = await ticketIds(db, tenant.id);
  const flaky = ids[350]; // position 350: chunk 3
  // The attempts are counted in a sequence: nextval survives the rollback of the failing
  // chunk transaction, where a counter row in a helper table would be rolled back with it.
  await createCounter(db, "flaky_attempts");
  await sql`
      CREATE FUNCTION flaky_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('flaky_attempts') <= 2 THEN
          RAISE EXCEPTION 'could not serialize access (test)' USING ERRCODE = 'serialization_failure';
        END IF;
        RETURN NEW;
      END $$`.execute(db);
  await sql`
      CREATE TRIGGER flaky_ticket BEFORE UPDATE ON tickets FOR EACH ROW
      WHEN (NEW.id = ${sql.lit(Number(flaky))}) EXECUTE FUNCTION flaky_ticket()`.execute(db);

  const before = await ticketStates(db, tenant.id);
  const expected = expectedOutcomes(ids, before, () => ok); // DELETE: every ticket can be deleted
  const op = await start(server, tenant.admin, { actionType: "DELETE", params: {}, targets: { kind: "ids", ids } });
  await waitFor(db, op.id, finished, 30_000);

  const done = await expectConsistent(db, op.id);
  expect(done.status).toBe("COMPLETED");
  expect(done.succeeded).toBe(1000);
  await expectLedger(db, op.id, expected);
  expect(await counterValue(db, "flaky_attempts")).toBe(3);

  // The flaky chunk's items record 3 attempts; every other chunk committed at its first.
  const { rows: attempts } = await sql<{ chunk: number; attempts: number; n: number; processed: Date }>`
      SELECT position / ${CHUNK} AS chunk, attempts, count(*)::int AS n, min(processed_at) AS processed
      FROM bulk_operation_items WHERE operation_id = ${op.id} GROUP BY 1, 2 ORDER BY 1`.execute(db);
  expect(attempts.map(({ chunk, attempts, n }) => ({ chunk, attempts, n }))).toEqual(
    Array.from({ length: 10 }, (_, chunk) => ({ chunk, attempts: chunk === 3 ? 3 : 1, n: CHUNK })),
  );
  // Backoff: 2 retries wait at least 100 + 200 ms (200 ms * 2^(n-1), jitter 0.5-1.0).
  const retriedAfterMs = attempts[3].processed.getTime() - done.first_chunk_at!.getTime();
  console.log(`flaky chunk committed ${retriedAfterMs} ms after the operation's first chunk`);
  expect(retriedAfterMs).toBeGreaterThanOrEqual(300);

  const after = await ticketStates(db, tenant.id);
  expect(ids.filter((id) => !after.get(id)!.deleted || after.get(id)!.version !== before.get(id)!.version + 1))
    .toEqual([]);
});
