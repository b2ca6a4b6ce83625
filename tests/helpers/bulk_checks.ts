/**
 * Assertions shared by the engine tests: expected per-item outcomes computed from the
 * tickets' state BEFORE an operation runs, compared item by item with the ledger, and the
 * invariants every finished operation must satisfy (counters = ledger, sums = total).
 */
import { expect } from "expect";
import { sql } from "kysely";
import type { Db } from "../../src/db/database.ts";
import type { OperationRow } from "../../src/bulk/operation.ts";
import { finished, ledger, operation } from "./bulk.ts";

export interface TicketState {
  id: string;
  status: string;
  priority: string;
  category: string;
  assigneeId: string | null;
  deleted: boolean;
  version: number;
}

export interface Expected {
  outcome: "SUCCEEDED" | "FAILED" | "SKIPPED" | "CANCELLED";
  code: string | null;
}

export const ok: Expected = { outcome: "SUCCEEDED", code: null };
export const failed = (code: string): Expected => ({ outcome: "FAILED", code });
export const skippedNoChange: Expected = { outcome: "SKIPPED", code: "NO_CHANGE" };

/**
 * The decision of an action setting `field` to `value` (SET_PRIORITY, SET_CATEGORY, ASSIGN):
 * closed tickets are read-only (FORBIDDEN), those already at it NO_CHANGE, the rest change.
 */
export const setsField =
  <F extends "priority" | "category" | "assigneeId">(field: F, value: TicketState[F]) =>
  (ticket: TicketState): Expected =>
    ticket.status === "CLOSED" ? failed("FORBIDDEN") : ticket[field] === value ? skippedNoChange : ok;

/**
 * The targets whose ticket is not as its expected outcome says (at most five, for the
 * message): a SUCCEEDED one has `field` at `value` and one version more, any other has
 * both unchanged.
 */
export function wrongChanges<F extends "status" | "priority">(
  targets: string[],
  expected: Expected[],
  states: { before: Map<string, TicketState>; after: Map<string, TicketState> },
  field: F,
  value: TicketState[F],
): { id: string; was: TicketState; now: TicketState; expected: Expected }[] {
  return positionsOf(targets).flatMap((id, position) => {
    const was = states.before.get(id);
    if (!was) return [];
    const now = states.after.get(id)!;
    const right = expected[position].outcome === "SUCCEEDED"
      ? now[field] === value && now.version === was.version + 1
      : now[field] === was[field] && now.version === was.version;
    return right ? [] : [{ id, was, now, expected: expected[position] }];
  }).slice(0, 5);
}

/** Every ticket of the tenant as it is now, by id. */
export async function ticketStates(db: Db, tenantId: string): Promise<Map<string, TicketState>> {
  const { rows } = await sql<TicketState>`
    SELECT id::text AS id, status, priority, category, assignee_id AS "assigneeId",
           deleted_at IS NOT NULL AS deleted, version
    FROM tickets WHERE tenant_id = ${tenantId}`.execute(db);
  return new Map(rows.map((row) => [row.id, row]));
}

/** Ids de-duplicated, first occurrence wins: the ledger's positions. */
export const positionsOf = (ids: string[]): string[] => [...new Set(ids)];

/**
 * The outcome of each position of the operation, decided from `before` (the pre-run
 * state) by `decide`; ids that are not the tenant's tickets are NOT_FOUND and deleted
 * tickets DELETED, as every field-changing action does.
 */
export function expectedOutcomes(
  targets: string[],
  before: Map<string, TicketState>,
  decide: (ticket: TicketState) => Expected,
): Expected[] {
  return positionsOf(targets).map((id) => {
    const ticket = before.get(id);
    if (!ticket) return failed("NOT_FOUND");
    if (ticket.deleted) return failed("DELETED");
    return decide(ticket);
  });
}

export function tally(expected: Expected[]) {
  const outcomes: Record<string, number> = {};
  const codes: Record<string, number> = {};
  for (const e of expected) {
    outcomes[e.outcome] = (outcomes[e.outcome] ?? 0) + 1;
    if (e.code) codes[e.code] = (codes[e.code] ?? 0) + 1;
  }
  return { outcomes, codes };
}

/** Compares the ledger with `expected` position by position (reports the first mismatches). */
export async function expectLedger(db: Db, operationId: string, expected: Expected[]): Promise<void> {
  const { rows } = await sql<{ position: number; outcome: string; error_code: string | null }>`
    SELECT position, outcome, error_code FROM bulk_operation_ledger
    WHERE operation_id = ${operationId} ORDER BY position`.execute(db);
  expect(rows.length).toBe(expected.length);
  const mismatches = rows.flatMap((row) => {
    const want = expected[row.position];
    return want && want.outcome === row.outcome && want.code === row.error_code
      ? []
      : [{ position: row.position, got: `${row.outcome}/${row.error_code}`, want: `${want?.outcome}/${want?.code}` }];
  });
  expect(mismatches.slice(0, 10)).toEqual([]);
  expect(mismatches.length).toBe(0);
}

/**
 * The invariants of a finished operation: it is terminal, every item has a final outcome,
 * succeeded + failed + skipped + cancelled = total, each counter equals the ledger's count,
 * error_counts equals the ledger's code counts, and it ended exactly once (one FINISHED or
 * CANCELLED event). Returns the operation row.
 */
export async function expectConsistent(db: Db, operationId: string): Promise<OperationRow> {
  const op = await operation(db, operationId);
  expect(finished(op)).toBe(true);
  expect(op.finished_at).not.toBeNull();
  const { outcomes, codes } = await ledger(db, operationId);
  expect(outcomes.PENDING ?? 0).toBe(0);
  expect(op.succeeded + op.failed + op.skipped + op.cancelled).toBe(op.total);
  expect({
    SUCCEEDED: op.succeeded,
    FAILED: op.failed,
    SKIPPED: op.skipped,
    CANCELLED: op.cancelled,
  }).toEqual({
    SUCCEEDED: outcomes.SUCCEEDED ?? 0,
    FAILED: outcomes.FAILED ?? 0,
    SKIPPED: outcomes.SKIPPED ?? 0,
    CANCELLED: outcomes.CANCELLED ?? 0,
  });
  expect(op.error_counts).toEqual(codes);
  const { rows } = await sql<{ type: string; n: number }>`
    SELECT type, count(*)::int AS n FROM bulk_operation_events
    WHERE operation_id = ${operationId} AND type IN ('FINISHED', 'CANCELLED') GROUP BY type`.execute(db);
  expect(rows).toEqual([{ type: op.status === "CANCELLED" ? "CANCELLED" : "FINISHED", n: 1 }]);
  // Nothing of a finished operation is left in the queue.
  const jobs = await db.selectFrom("bulk_jobs").select("id").where("operation_id", "=", operationId).execute();
  expect(jobs).toEqual([]);
  return op;
}

/** Counters as a plain object, for comparing with `tally(expected).outcomes`. */
export const countersOf = (op: OperationRow): Record<string, number> =>
  Object.fromEntries(
    ([["SUCCEEDED", op.succeeded], ["FAILED", op.failed], ["SKIPPED", op.skipped], [
      "CANCELLED",
      op.cancelled,
    ]] as const)
      .filter(([, n]) => n > 0),
  );

/** Creates a table-free counter that survives rollbacks (sequences are not transactional). */
export async function createCounter(db: Db, name: string): Promise<void> {
  await sql`CREATE SEQUENCE ${sql.raw(name)}`.execute(db);
}

/** How many times the counter was advanced (0 when never). */
export async function counterValue(db: Db, name: string): Promise<number> {
  const { rows: [row] } = await sql<{ n: number }>`
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END::int AS n FROM ${sql.raw(name)}`.execute(db);
  return row.n;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
