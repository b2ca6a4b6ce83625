/**
 * Issue 9.5: retry, cancel and idempotency edge cases. No worker threads (WORKERS=0): the
 * test drives chunks with the engine's own claimJob / runChunk / handleChunkFailure, so a
 * retry or rollback can be cancelled after exactly one chunk. Real PostgreSQL throughout.
 */
import type { LedgerOutcome } from "../src/db/tables.ts";
import { expect } from "expect";
import { sql } from "kysely";
import { cancelOperation } from "../src/bulk/cancel.ts";
import { retryFailedItems, rollbackOperation } from "../src/bulk/lineage.ts";
import type { OperationRow } from "../src/bulk/operation.ts";
import { claimJob } from "../src/bulk/queue/claim.ts";
import { failChunk, handleChunkFailure } from "../src/bulk/chunk-failure.ts";
import { runChunk } from "../src/bulk/run-chunk.ts";
import { StartError } from "../src/bulk/start.ts";
import { encodeId } from "../src/graphql/ids.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { dbIdOf } from "./helpers/api.ts";
import { ledger, loadViewer, operation, start, ticketIds, waitForLockWait } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestUser } from "./helpers/server.ts";

const CHUNK = 5;
const server = await startTestServer({ tickets: 300, env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK) } });
const { db, tenant } = server;
const ids = await ticketIds(db, tenant.id);
let next = 0;
const take = (n: number) => ids.slice(next, next += n);
const limits = {
  maxTargets: 1000,
  chunkSize: CHUNK,
  maxActivePerUser: 100,
  maxStartsPerMinute: 1000,
  maxWaitingPerUser: 1000,
};

/** Runs up to `limit` claimable chunks in this process; returns how many ran. */
async function runChunks(limit = Infinity): Promise<number> {
  let ran = 0;
  for (; ran < limit; ran++) {
    const job = await claimJob(db, "edge-test", 60_000);
    if (!job) break;
    await runChunk(db, ticketsDomain, job);
  }
  return ran;
}

async function finish(op: OperationRow): Promise<OperationRow> {
  await runChunks();
  return await expectConsistent(db, op.id);
}

async function cancel(user: TestUser, op: OperationRow) {
  return await cancelOperation(db, ticketsDomain, await loadViewer(db, user), op.id);
}

async function retry(op: OperationRow, user = tenant.agent) {
  return (await retryFailedItems(db, ticketsDomain, await loadViewer(db, user), op.id, { limits })).operation;
}

async function startRollback(op: OperationRow, force = false, user = tenant.agent) {
  const viewer = await loadViewer(db, user);
  return (await rollbackOperation(db, ticketsDomain, viewer, op.id, { force, windowHours: 24, limits })).operation;
}

async function ledgerTargetsOf(op: OperationRow, outcome?: LedgerOutcome): Promise<string[]> {
  const rows = await db.selectFrom("bulk_operation_ledger").select("target_id").where("operation_id", "=", op.id)
    .$if(!!outcome, (q) => q.where("outcome", "=", outcome!)).orderBy("position").execute();
  return rows.map((r) => String(r.target_id));
}

/** RESOLVED -> CLOSED over `n` tickets of which the first `failing` are OPEN (INVALID_TRANSITION). */
async function parentWithFailures(n: number, failing: number): Promise<OperationRow> {
  const targets = take(n);
  await sql`UPDATE tickets SET status = 'RESOLVED', deleted_at = NULL WHERE id = ANY(${targets}::bigint[])`
    .execute(db);
  await sql`UPDATE tickets SET status = 'OPEN' WHERE id = ANY(${targets.slice(0, failing)}::bigint[])`.execute(db);
  const op = await start(server, tenant.agent, {
    actionType: "SET_STATUS",
    params: { status: "CLOSED" },
    targets: { kind: "ids", ids: targets },
  });
  const done = await finish(op);
  expect(done).toMatchObject({ failed: failing, succeeded: n - failing });
  // Make the failed ones closable now (a retry then succeeds on them).
  await sql`UPDATE tickets SET status = 'RESOLVED' WHERE id = ANY(${targets.slice(0, failing)}::bigint[])`.execute(db);
  return done;
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => "started",
    (error) => (error instanceof StartError ? error.code : Promise.reject(error)),
  );

Deno.test({
  name: "retry, cancel and idempotency edge cases",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    // The module's server (its setup above needs it) stops when this test ends.
    await using _moduleServer = server;
    await t.step(
      "a cancelled retry does not block retrying the parent; the new one covers what it left",
      async () => {
        const parent = await parentWithFailures(20, 20);
        const first = await retry(parent);
        expect(first.total).toBe(20);
        expect(await runChunks(1)).toBe(1); // one chunk of the retry, then cancel it
        const cancelled = await cancel(tenant.agent, first);
        expect(cancelled.ok && cancelled.operation.status).toBe("CANCELLED");
        const ranFirst = await expectConsistent(db, first.id);
        expect(ranFirst).toMatchObject({ succeeded: CHUNK, cancelled: 20 - CHUNK });

        const second = await retry(parent);
        expect(second.total).toBe(20 - CHUNK);
        expect(await ledgerTargetsOf(second)).toEqual(await ledgerTargetsOf(first, "CANCELLED"));
        // The cancelled retry's own processed items all succeeded: nothing of its own to retry.
        expect(await refusal(retry(first))).toBe("NOTHING_TO_RETRY");
        const ran = await finish(second);
        expect(ran).toMatchObject({ succeeded: 20 - CHUNK, failed: 0 });
        // Every failed item of the parent was applied exactly once, by one of the two retries.
        const applied = [...await ledgerTargetsOf(first, "SUCCEEDED"), ...await ledgerTargetsOf(second, "SUCCEEDED")];
        expect(applied.sort()).toEqual((await ledgerTargetsOf(parent, "FAILED")).sort());
        // A retry that was not cancelled blocks another one, as before.
        expect(await refusal(retry(parent))).toBe("ALREADY_RETRIED");
      },
    );

    await t.step("a retry of a partly cancelled retry covers the items it ran that failed", async () => {
      const parent = await parentWithFailures(15, 15);
      // Two of the items fail again in the retry's first chunk: make them unclosable again.
      const again = (await ledgerTargetsOf(parent, "FAILED")).slice(0, 2);
      await sql`UPDATE tickets SET status = 'OPEN' WHERE id = ANY(${again}::bigint[])`.execute(db);
      const first = await retry(parent);
      await runChunks(1);
      await cancel(tenant.agent, first);
      expect(await expectConsistent(db, first.id)).toMatchObject({ succeeded: 3, failed: 2, cancelled: 10 });
      const ofRetry = await retry(first);
      expect(await ledgerTargetsOf(ofRetry)).toEqual(again);
      const ofParent = await retry(parent);
      expect(await ledgerTargetsOf(ofParent)).toEqual(await ledgerTargetsOf(first, "CANCELLED"));
      await finish(ofRetry);
      await finish(ofParent);
    });

    await t.step(
      "failChunk decides under the operation's row lock: no FAILED item in a cancelled operation",
      async () => {
        const op = await start(server, tenant.agent, {
          actionType: "SET_PRIORITY",
          params: { priority: "LOW" },
          targets: { kind: "ids", ids: take(CHUNK * 2) },
        });
        const job = (await claimJob(db, "edge-test", 60_000))!;
        // A cancel in progress holds the operation row; failChunk must wait for its outcome.
        const holder = await db.connection().execute(async (conn) => {
          await sql`BEGIN`.execute(conn);
          await sql`SELECT id FROM bulk_operations WHERE id = ${op.id} FOR UPDATE`.execute(conn);
          const giving = failChunk(db, job);
          await waitForLockWait(db, "failChunk");
          await sql`UPDATE bulk_operations SET cancel_requested_at = now(), status = 'CANCELLING'
            WHERE id = ${op.id}`.execute(conn);
          await sql`COMMIT`.execute(conn);
          return await giving;
        });
        expect(holder.status).toBe("CANCELLING"); // the other chunk still has its job
        expect((await ledger(db, op.id)).outcomes).toEqual({ PENDING: CHUNK, CANCELLED: CHUNK });
        await runChunks();
        expect(await expectConsistent(db, op.id)).toMatchObject({ status: "CANCELLED", failed: 0 });
      },
    );

    await t.step("a cancelled operation's failed chunk is not retried later: it ends CANCELLED now", async () => {
      const op = await start(server, tenant.agent, {
        actionType: "SET_PRIORITY",
        params: { priority: "HIGH" },
        targets: { kind: "ids", ids: take(CHUNK) },
      });
      const job = (await claimJob(db, "edge-test", 60_000))!;
      const cancelled = await cancel(tenant.agent, op);
      expect(cancelled.ok && cancelled.operation.status).toBe("CANCELLING"); // the claimed chunk is in flight
      const gaveUp = await handleChunkFailure(db, job, new Error("connection reset"), { maxAttempts: 5 });
      expect(gaveUp?.status).toBe("CANCELLED");
      expect(await db.selectFrom("bulk_jobs").select("id").where("operation_id", "=", op.id).execute()).toEqual([]);
      expect(await expectConsistent(db, op.id)).toMatchObject({ cancelled: CHUNK, failed: 0 });
    });

    await t.step("cancelling a rollback of DELETE needs ADMIN, like cancelling the DELETE", async () => {
      const deleted = await start(server, tenant.admin, {
        actionType: "DELETE",
        params: {},
        targets: { kind: "ids", ids: take(CHUNK) },
      });
      await finish(deleted);
      const undo = await startRollback(deleted, false, tenant.admin);
      const byAgent = await cancel(tenant.agent, undo);
      expect(byAgent).toMatchObject({ ok: false, code: "FORBIDDEN" });
      expect((await operation(db, undo.id)).cancel_requested_at).toBeNull();
      const byAdmin = await cancel(tenant.admin, undo);
      expect(byAdmin.ok && byAdmin.operation.status).toBe("CANCELLED");
      // A rollback of an AGENT action stays cancellable by an agent.
      const prioritised = await start(server, tenant.agent, {
        actionType: "SET_PRIORITY",
        params: { priority: "URGENT" },
        targets: { kind: "ids", ids: take(CHUNK) },
      });
      await sql`UPDATE tickets SET status = 'OPEN', priority = 'LOW' WHERE id = ANY(${await ledgerTargetsOf(
        prioritised,
      )}::bigint[])`.execute(db);
      await finish(prioritised);
      const undoPriority = await startRollback(prioritised);
      expect(await cancel(tenant.agent, undoPriority)).toMatchObject({ ok: true });
    });

    await t.step("an idempotent replay returns the operation even after its previewToken expired", async () => {
      const input = {
        targets: { ids: take(3).map((id) => encodeId("Ticket", id)) },
        action: { setCategory: { category: "BILLING" } },
      };
      const preview = await gql(
        server.graphqlUrl,
        tenant.agent.token,
        `mutation($input: StartBulkOperationInput!) { previewBulkOperation(input: $input) {
            preview { previewToken } userErrors { code } } }`,
        { input },
      );
      const previewToken = preview.data.previewBulkOperation.preview.previewToken;
      const startIt = () =>
        gql(
          server.graphqlUrl,
          tenant.agent.token,
          `mutation($input: StartBulkOperationInput!) { startBulkOperation(input: $input) {
              bulkOperation { id } replayed userErrors { code } } }`,
          { input: { ...input, previewToken, idempotencyKey: "edge-replay-1" } },
        );
      const first = (await startIt()).data.startBulkOperation;
      expect(first.userErrors).toEqual([]);
      await sql`UPDATE bulk_previews SET expires_at = now() - interval '1 second'`.execute(db);
      const replay = (await startIt()).data.startBulkOperation;
      expect(replay).toEqual({ bulkOperation: { id: first.bulkOperation.id }, replayed: true, userErrors: [] });
      await sql`DELETE FROM bulk_previews`.execute(db);
      expect((await startIt()).data.startBulkOperation.bulkOperation.id).toBe(first.bulkOperation.id);
      // Without the key the expired token is refused, as before.
      const fresh = await gql(
        server.graphqlUrl,
        tenant.agent.token,
        `mutation($input: StartBulkOperationInput!) { startBulkOperation(input: $input) { userErrors { code } } }`,
        { input: { ...input, previewToken } },
      );
      expect(fresh.data.startBulkOperation.userErrors).toEqual([{ code: "PREVIEW_EXPIRED" }]);
      await runChunks();
      await expectConsistent(db, dbIdOf(first.bulkOperation.id));
    });

    await t.step("a finished rollback blocks another (ALREADY_ROLLED_BACK); a cancelled one does not", async () => {
      const priorityOp = async (n: number) => {
        const targets = take(n);
        await sql`UPDATE tickets SET status = 'OPEN', priority = 'LOW', deleted_at = NULL
            WHERE id = ANY(${targets}::bigint[])`.execute(db);
        return await finish(
          await start(server, tenant.agent, {
            actionType: "SET_PRIORITY",
            params: { priority: "URGENT" },
            targets: { kind: "ids", ids: targets },
          }),
        );
      };
      const parent = await priorityOp(10);
      const undone = await finish(await startRollback(parent));
      expect(undone).toMatchObject({ succeeded: 10, error_counts: {} });
      expect(await refusal(startRollback(parent))).toBe("ALREADY_ROLLED_BACK");
      expect(await refusal(startRollback(parent, true))).toBe("ALREADY_ROLLED_BACK"); // nothing left to force

      // Cancelled after one chunk: the next rollback covers only what it did not restore (no CONFLICT).
      const partly = await priorityOp(10);
      const stopped = await startRollback(partly);
      await runChunks(1);
      await cancel(tenant.agent, stopped);
      expect(await expectConsistent(db, stopped.id)).toMatchObject({ succeeded: CHUNK, cancelled: CHUNK });
      const rest = await startRollback(partly);
      expect(await ledgerTargetsOf(rest)).toEqual(await ledgerTargetsOf(stopped, "CANCELLED"));
      expect(await finish(rest)).toMatchObject({ succeeded: CHUNK, error_counts: {} });
      expect(await refusal(startRollback(partly))).toBe("ALREADY_ROLLED_BACK");

      // A rollback that restored nothing (every item CONFLICT) does not block; force then overwrites.
      const conflicted = await priorityOp(5);
      await sql`UPDATE tickets SET priority = 'NORMAL' WHERE id = ANY(${await ledgerTargetsOf(conflicted)}::bigint[])`
        .execute(db);
      expect(await finish(await startRollback(conflicted))).toMatchObject({
        succeeded: 0,
        error_counts: { CONFLICT: 5 },
      });
      expect(await finish(await startRollback(conflicted, true))).toMatchObject({ succeeded: 5 });
    });

    await t.step("retrying a rolled-back parent re-applies only its failed items", async () => {
      const parent = await parentWithFailures(10, 4);
      expect(await finish(await startRollback(parent))).toMatchObject({ succeeded: 6 });
      const retried = await finish(await retry(parent));
      expect(retried).toMatchObject({ total: 4, succeeded: 4 });
      const { rows } = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM tickets
          WHERE id = ANY(${await ledgerTargetsOf(parent)}::bigint[]) GROUP BY status ORDER BY status`.execute(db);
      // The 6 rolled back stay RESOLVED; the 4 retried are CLOSED.
      expect(rows).toEqual([{ status: "CLOSED", n: 4 }, { status: "RESOLVED", n: 6 }]);
    });
  },
});
