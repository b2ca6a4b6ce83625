/**
 * Issue 9.1: a rollback compares and restores only the fields its parent changed on each
 * item. Changes made since to other fields (a priority raised, a ticket deleted or closed)
 * are kept, unforced and forced alike; a conflict is only a change, since the parent, to a
 * field the parent changed. Real server, real worker thread, real PostgreSQL.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { rollbackOperation } from "../src/bulk/lineage.ts";
import type { OperationRow } from "../src/bulk/operation.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { finished, loadViewer, start, ticketIds, waitFor } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { startTestServer } from "./helpers/server.ts";

const server = await startTestServer({ tickets: 200, env: { WORKERS: "1", BULK_CHUNK_SIZE: "4" } });
const { db, tenant } = server;
const ids = await ticketIds(db, tenant.id);
let nextTicket = 0;
const take = (n: number) => ids.slice(nextTicket, nextTicket += n);

interface Fields {
  status: string;
  priority: string;
  category: string;
  assignee_id: string | null;
  deleted_at: Date | null;
}

/** A known starting state: open, normal, general, assigned to the agent, not deleted. */
async function reset(targets: string[], deleted = false): Promise<void> {
  await sql`UPDATE tickets SET status = 'OPEN', priority = 'NORMAL', category = 'GENERAL',
    assignee_id = ${tenant.agent.id}, deleted_at = ${deleted ? sql`now() - interval '1 day'` : null}
    WHERE id = ANY(${targets}::bigint[])`.execute(db);
}

/** Someone else's change, made directly (as updateTicket or another tool would). */
async function changeDirectly(targets: string[], set: ReturnType<typeof sql>): Promise<void> {
  await sql`UPDATE tickets SET ${set}, version = version + 1 WHERE id = ANY(${targets}::bigint[])`.execute(db);
}

async function fieldsOf(targets: string[]): Promise<Fields[]> {
  const { rows } = await sql<Fields>`SELECT status, priority, category, assignee_id, deleted_at FROM tickets
    WHERE id = ANY(${targets}::bigint[]) ORDER BY array_position(${targets}::bigint[], id)`.execute(db);
  return rows;
}

async function run(actionType: string, params: unknown, targets: string[]): Promise<OperationRow> {
  const op = await start(server, tenant.admin, { actionType, params, targets: { kind: "ids", ids: targets } });
  await waitFor(db, op.id, finished);
  return await expectConsistent(db, op.id);
}

async function rollBack(parent: OperationRow, force: boolean): Promise<OperationRow> {
  const started = await rollbackOperation(db, ticketsDomain, await loadViewer(db, tenant.admin), parent.id, {
    force,
    windowHours: 24,
    limits: { maxTargets: 1000, chunkSize: 4, maxActivePerUser: 2, maxStartsPerMinute: 1000, maxWaitingPerUser: 1000 },
  });
  await waitFor(db, started.operation.id, finished);
  return await expectConsistent(db, started.operation.id);
}

Deno.test({
  name: "rollback restores only what its parent changed",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    // The module's server (its setup above needs it) stops when this test ends.
    await using _moduleServer = server;
    for (const force of [false, true]) {
      await t.step(
        `SET_STATUS, then a priority raised and a ticket deleted: ${force ? "forced" : "unforced"} rollback keeps both`,
        async () => {
          const targets = take(6);
          await reset(targets);
          const parent = await run("SET_STATUS", { status: "PENDING" }, targets);
          expect(parent.succeeded).toBe(6);
          await changeDirectly([targets[0]], sql`priority = 'URGENT'`);
          await changeDirectly([targets[1]], sql`deleted_at = now()`);
          const undone = await rollBack(parent, force);
          expect(undone.error_counts).toEqual({});
          expect(undone.succeeded).toBe(6);
          const now = await fieldsOf(targets);
          expect(now.map((f) => f.status)).toEqual(targets.map(() => "OPEN"));
          expect(now[0].priority).toBe("URGENT");
          expect(now[1].deleted_at).not.toBeNull();
          expect(now.filter((f) => f.deleted_at !== null).length).toBe(1);
          expect(now.slice(1).map((f) => f.priority)).toEqual(targets.slice(1).map(() => "NORMAL"));
        },
      );
    }

    // Per action: `parent` changes `field`; afterwards someone changes `other` fields on every
    // target and the parent's own field on the first one. Unforced: exactly that one is a
    // CONFLICT, the rest get the parent's field back; forced: all do. Every other field keeps
    // the value it had just before the rollback, in both.
    const cases: {
      action: string;
      params: unknown;
      deleted?: boolean;
      field: keyof Fields;
      other: ReturnType<typeof sql>;
      conflict: ReturnType<typeof sql>;
    }[] = [
      {
        action: "SET_STATUS",
        params: { status: "RESOLVED" },
        field: "status",
        other: sql`priority = 'LOW', category = 'BILLING'`,
        conflict: sql`status = 'CLOSED'`,
      },
      {
        action: "SET_PRIORITY",
        params: { priority: "HIGH" },
        field: "priority",
        other: sql`status = 'PENDING', assignee_id = NULL`,
        conflict: sql`priority = 'URGENT'`,
      },
      {
        action: "SET_CATEGORY",
        params: { category: "TECHNICAL" },
        field: "category",
        other: sql`priority = 'URGENT', deleted_at = now()`,
        conflict: sql`category = 'ACCOUNT'`,
      },
      {
        action: "ASSIGN",
        params: { assigneeId: tenant.admin.id },
        field: "assignee_id",
        other: sql`status = 'CLOSED', category = 'FEATURE_REQUEST'`,
        conflict: sql`assignee_id = NULL`,
      },
      {
        action: "DELETE",
        params: {},
        field: "deleted_at",
        other: sql`priority = 'HIGH', status = 'PENDING'`,
        conflict: sql`deleted_at = now() + interval '1 hour'`,
      },
      {
        action: "RESTORE",
        params: {},
        deleted: true,
        field: "deleted_at",
        other: sql`priority = 'LOW', assignee_id = NULL`,
        conflict: sql`deleted_at = now()`,
      },
    ];
    for (const c of cases) {
      for (const force of [false, true]) {
        await t.step(`${c.action}: ${force ? "forced" : "unforced"} rollback restores ${c.field} only`, async () => {
          const targets = take(5);
          await reset(targets, c.deleted);
          const original = await fieldsOf(targets);
          const parent = await run(c.action, c.params, targets);
          expect(parent.succeeded).toBe(5);
          await changeDirectly(targets, c.other);
          await changeDirectly([targets[0]], c.conflict);
          const changedSince = await fieldsOf(targets);
          const undone = await rollBack(parent, force);
          expect(undone.error_counts).toEqual(force ? {} : { CONFLICT: 1 });
          expect(undone.succeeded).toBe(force ? 5 : 4);
          const restored = (i: number) => (i === 0 && !force ? changedSince : original)[i][c.field];
          expect(await fieldsOf(targets)).toEqual(
            changedSince.map((fields, i) => ({ ...fields, [c.field]: restored(i) })),
          );
        });
      }
    }

    await t.step("ADD_COMMENT: rollback removes the comments and touches no field", async () => {
      const targets = take(5);
      await reset(targets);
      const parent = await run("ADD_COMMENT", { body: "to be undone" }, targets);
      expect(parent.succeeded).toBe(5);
      await changeDirectly(targets, sql`status = 'PENDING', priority = 'URGENT'`);
      await changeDirectly([targets[1]], sql`deleted_at = now()`);
      const before = await fieldsOf(targets);
      const undone = await rollBack(parent, false);
      expect(undone.error_counts).toEqual({});
      expect(undone.succeeded).toBe(5);
      expect(await fieldsOf(targets)).toEqual(before);
      const { rows: [left] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ticket_comments
          WHERE bulk_operation_id = ${parent.id}`.execute(db);
      expect(left.n).toBe(0);
    });
  },
});
