/**
 * Checks shared by the crash tests (real worker processes killed, stopped or frozen): the
 * tenant's commentable tickets, whose leases a process holds, and the proof
 * that an ADD_COMMENT operation applied every item exactly once.
 */
import { expect } from "expect";
import { type RawBuilder, sql } from "kysely";
import { createCounter } from "./bulk_checks.ts";
import type { Db } from "../../src/db/database.ts";
import { expectConsistent, expectLedger, ok } from "./bulk_checks.ts";

/**
 * The first transaction that inserts a row into `table` matching `when` (on NEW) stalls for `seconds`, once:
 * a kill then lands inside that chunk's transaction. The sequence `stall_count` counts the stalls' starts.
 */
export async function stallOnce(db: Db, table: string, when: RawBuilder<unknown>, seconds: number): Promise<void> {
  await createCounter(db, "stall_count");
  await sql`
    CREATE FUNCTION stall_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF nextval('stall_count') = 1 THEN PERFORM pg_sleep(${sql.lit(seconds)}); END IF;
      RETURN NEW;
    END $$`.execute(db);
  await sql`CREATE TRIGGER stall_once BEFORE INSERT ON ${sql.table(table)} FOR EACH ROW
    WHEN (${when}) EXECUTE FUNCTION stall_once()`.execute(db);
}
import type { TestServer } from "./server.ts";

/** The tenant's tickets that are not CLOSED (closed ones are read-only for comments). */
export async function openTicketIds(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db.selectFrom("tickets").select("id").where("tenant_id", "=", tenantId)
    .where("status", "<>", "CLOSED").orderBy("id").execute();
  return rows.map((r) => String(r.id));
}

/** Jobs of the operation whose lease names this worker process. */
export async function leasesOf(db: Db, operationId: string, pid: number) {
  return await db.selectFrom("bulk_jobs").select(["chunk_index", "locked_by", "attempts"])
    .where("operation_id", "=", operationId).where("locked_by", "like", `%:${pid}:%`).execute();
}

/**
 * Exactly once: COMPLETED, every item SUCCEEDED, exactly one comment of this operation per
 * target ticket and none elsewhere, and each ledger row names the comment that exists.
 */
export async function expectAppliedOnce(server: TestServer, operationId: string, targets: string[]): Promise<void> {
  const { db } = server;
  const done = await expectConsistent(db, operationId);
  expect(done).toMatchObject({ status: "COMPLETED", total: targets.length, succeeded: targets.length });
  await expectLedger(db, operationId, targets.map(() => ok));
  const { rows: [comments] } = await sql<{ comments: number; tickets: number; most: number; strays: number }>`
    SELECT count(*)::int AS comments, count(DISTINCT ticket_id)::int AS tickets,
           coalesce(max(per_ticket), 0)::int AS most,
           count(*) FILTER (WHERE NOT ticket_id = ANY(${targets}::bigint[]))::int AS strays
    FROM (SELECT ticket_id, count(*) OVER (PARTITION BY ticket_id) AS per_ticket
          FROM ticket_comments WHERE bulk_operation_id = ${operationId}) AS c`.execute(db);
  expect(comments).toEqual({ comments: targets.length, tickets: targets.length, most: 1, strays: 0 });
  const { rows: [links] } = await sql<{ linked: number }>`
    SELECT count(*)::int AS linked FROM bulk_operation_items i
    JOIN ticket_comments c ON c.id = (i.after ->> 'commentId')::bigint
      AND c.ticket_id = i.target_id AND c.bulk_operation_id = i.operation_id
    WHERE i.operation_id = ${operationId}`.execute(db);
  expect(links.linked).toBe(targets.length);
}

/** Attempts recorded by the items of one chunk (rows or runs: the ledger view). */
export async function chunkAttempts(db: Db, operationId: string, chunk: number, chunkSize: number): Promise<number[]> {
  const { rows } = await sql<{ attempts: number }>`
    SELECT DISTINCT attempts FROM bulk_operation_ledger
    WHERE operation_id = ${operationId} AND position BETWEEN ${chunk * chunkSize} AND ${(chunk + 1) * chunkSize - 1}`
    .execute(db);
  return rows.map((r) => r.attempts);
}
