/**
 * Issue 5: retry failed items, rollback (exact restore, conflicts, force, window, cancelled
 * parents, comments, deletes), and preview (predictions equal the run; changes nothing;
 * previewToken runs the frozen snapshot). Real server, real workers, GraphQL over HTTP and
 * graphql-ws.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { rollbackOperation } from "../src/bulk/lineage.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { CANCEL } from "./helpers/api.ts";
import { finished, loadViewer, operation, ticketIds, waitFor } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { collect, gql, wsClient } from "./helpers/graphql.ts";
import { startTestServer, type TestServer, type TestUser } from "./helpers/server.ts";
import { encodeId } from "../src/graphql/ids.ts";
import type { Db } from "../src/db/database.ts";

// Started inside the test (not at import, where it would run and leak under --filter for another test).
let server: TestServer;
let db: Db;
const gid = (id: string) => encodeId("Ticket", id);
const rawId = (globalId: string) => atob(globalId.replaceAll("-", "+").replaceAll("_", "/")).split(":")[1];

const OP_FIELDS = `id kind status parent { id } children { id kind }
  counts { total succeeded failed skipped cancelled } errorSummary { code count }`;

async function mutate(user: TestUser, query: string, variables: Record<string, unknown>) {
  const result = await gql(server.graphqlUrl, user.token, query, variables);
  expect(result.errors).toBeUndefined();
  // deno-lint-ignore no-explicit-any -- each step reads a different payload shape
  return Object.values(result.data as Record<string, any>)[0];
}

async function startOp(user: TestUser, input: Record<string, unknown>) {
  const payload = await mutate(
    user,
    `mutation($input: StartBulkOperationInput!) { startBulkOperation(input: $input) {
      bulkOperation { id } userErrors { code field message } } }`,
    { input },
  );
  expect(payload.userErrors).toEqual([]);
  return payload.bulkOperation.id as string;
}

async function finish(globalId: string) {
  return await waitFor(db, rawId(globalId), finished);
}

async function retry(user: TestUser, id: string, errorCodes?: string[]) {
  return await mutate(
    user,
    `mutation($input: RetryFailedItemsInput!) { retryFailedItems(input: $input) {
      bulkOperation { ${OP_FIELDS} } userErrors { code field message } } }`,
    { input: { id, errorCodes } },
  );
}

async function startRollback(user: TestUser, id: string, force = false) {
  return await mutate(
    user,
    `mutation($input: RollbackBulkOperationInput!) { rollbackBulkOperation(input: $input) {
      bulkOperation { ${OP_FIELDS} } userErrors { code field message } } }`,
    { input: { id, force } },
  );
}

/** Whole ticket rows minus the two columns every change moves forward. */
async function rows(database: Db, ticketIdList: string[]) {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT id, tenant_id, title, body, status, priority, category, assignee_id, created_by, created_at, deleted_at
    FROM tickets WHERE id = ANY(${ticketIdList}::bigint[]) ORDER BY id`.execute(database);
  return rows;
}

/** A checksum of everything a preview must not touch. */
async function checksum(database: Db) {
  const { rows: [row] } = await sql<Record<string, string>>`
    SELECT (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM tickets t) AS tickets,
           (SELECT count(*) FROM ticket_comments)::text AS comments,
           (SELECT count(*) FROM bulk_operations)::text AS operations,
           (SELECT count(*) FROM bulk_operation_items)::text AS items,
           (SELECT count(*) FROM bulk_jobs)::text AS jobs`.execute(database);
  return row;
}

Deno.test({
  name: "bulk safety: retry, rollback, preview",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using started = await startTestServer({ tickets: 400, env: { WORKERS: "2", BULK_CHUNK_SIZE: "50" } });
    server = started;
    db = server.db;
    const { tenant } = server;
    const ids = await ticketIds(db, tenant.id);
    await t.step("retry after fixing the cause: INVALID_TRANSITION items succeed on retry", async () => {
      const targets = ids.slice(0, 100);
      // OPEN/PENDING -> CLOSED is not allowed (resolve first): those fail INVALID_TRANSITION.
      const parentId = await startOp(tenant.agent, {
        targets: { ids: targets.map(gid) },
        action: { setStatus: { status: "CLOSED" } },
      });
      const parent = await finish(parentId);
      await expectConsistent(db, parent.id);
      expect(parent.failed).toBeGreaterThan(0);
      const failedBefore = parent.failed;
      // Retrying while nothing changed fails again; first fix the cause: resolve them.
      await sql`UPDATE tickets SET status = 'RESOLVED', version = version + 1
                  WHERE id IN (SELECT target_id FROM bulk_operation_items
                               WHERE operation_id = ${parent.id} AND error_code = 'INVALID_TRANSITION')`.execute(db);
      const payload = await retry(tenant.agent, parentId, ["INVALID_TRANSITION"]);
      expect(payload.userErrors).toEqual([]);
      expect(payload.bulkOperation.kind).toBe("RETRY");
      expect(payload.bulkOperation.parent.id).toBe(parentId);
      expect(payload.bulkOperation.counts.total).toBe(failedBefore);
      const child = await finish(payload.bulkOperation.id);
      await expectConsistent(db, child.id);
      expect(child.status).toBe("COMPLETED");
      expect(child.succeeded).toBe(failedBefore);
      // The parent stays as it was; the lineage reads both ways.
      const after = await operation(db, parent.id);
      expect([after.succeeded, after.failed, after.skipped, after.status]).toEqual([
        parent.succeeded,
        parent.failed,
        parent.skipped,
        parent.status,
      ]);
      const lineage = await gql(
        server.graphqlUrl,
        tenant.agent.token,
        `query($id: ID!) {
          bulkOperation(id: $id) { children { id kind parent { id } } } }`,
        { id: parentId },
      );
      expect(lineage.data!.bulkOperation.children).toEqual([
        { id: payload.bulkOperation.id, kind: "RETRY", parent: { id: parentId } },
      ]);
      // Nothing left to retry now (all codes), and an unknown code has nothing either.
      const none = await retry(tenant.agent, payload.bulkOperation.id);
      expect(none.userErrors.map((e: { code: string }) => e.code)).toEqual(["NOTHING_TO_RETRY"]);
    });

    await t.step("retrying or rolling back a running operation is refused", async () => {
      const running = await startOp(tenant.agent, {
        targets: { ids: ids.map(gid) },
        action: { addComment: { body: "running" } },
        scheduledAt: new Date(Date.now() + 60_000).toISOString(),
      });
      const r1 = await retry(tenant.agent, running);
      const r2 = await startRollback(tenant.agent, running);
      expect(r1.userErrors[0].code).toBe("OPERATION_ACTIVE");
      expect(r2.userErrors[0].code).toBe("OPERATION_ACTIVE");
      expect(r1.bulkOperation).toBeNull();
      await mutate(
        tenant.agent,
        CANCEL,
        { id: running },
      );
    });

    await t.step("rollback restores every field exactly, comments removed, deleted tickets back", async () => {
      const targets = ids.slice(100, 160);
      const original = await rows(db, targets);
      const ops = [
        { setPriority: { priority: "URGENT" } },
        { setCategory: { category: "BILLING" } },
        { assign: { assigneeId: encodeId("User", tenant.admin.id) } },
        { addComment: { body: "to be rolled back" } },
        { delete: {} },
      ];
      const opIds: string[] = [];
      const commentable = original.filter((r) => r.status !== "CLOSED").length; // closed tickets are read-only
      for (const action of ops) {
        const id = await startOp(tenant.admin, { targets: { ids: targets.map(gid) }, action });
        const done = await finish(id);
        if (action === ops[3]) expect(done.succeeded).toBe(commentable);
        opIds.push(id);
      }
      const commentOp = opIds[3];
      const { rows: [added] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ticket_comments
          WHERE bulk_operation_id = ${rawId(commentOp)}`.execute(db);
      expect(commentable).toBeGreaterThan(0);
      expect(added.n).toBe(commentable);
      expect((await rows(db, targets)).every((r) => r.deleted_at !== null)).toBe(true);
      // Undo newest first, like an undo stack.
      for (const id of [...opIds].reverse()) {
        const payload = await startRollback(tenant.admin, id);
        expect(payload.userErrors).toEqual([]);
        const done = await finish(payload.bulkOperation.id);
        await expectConsistent(db, done.id);
        expect(done.failed).toBe(0);
        expect(done.error_counts.CONFLICT ?? 0).toBe(0);
      }
      expect(await rows(db, targets)).toEqual(original);
      const { rows: [left] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ticket_comments
          WHERE bulk_operation_id = ${rawId(commentOp)}`.execute(db);
      expect(left.n).toBe(0);
    });

    await t.step("conflicts are detected and not overwritten; force overwrites", async () => {
      const targets = ids.slice(160, 200);
      const parentId = await startOp(tenant.agent, {
        targets: { ids: targets.map(gid) },
        action: { setPriority: { priority: "LOW" } },
      });
      const parent = await finish(parentId);
      const changed = targets.filter((_, i) => i % 4 === 0);
      await sql`UPDATE tickets SET priority = 'HIGH', version = version + 1
                  WHERE id = ANY(${changed}::bigint[]) AND status <> 'CLOSED'`.execute(db);
      const changedLive = (await rows(db, changed)).filter((r) => r.priority === "HIGH").map((r) => String(r.id));
      const succeededChanged = (await db.selectFrom("bulk_operation_items").select("target_id")
        .where("operation_id", "=", parent.id).where("outcome", "=", "SUCCEEDED")
        .where("target_id", "in", changedLive as never[]).execute()).length;
      expect(succeededChanged).toBeGreaterThan(0);
      const payload = await startRollback(tenant.agent, parentId);
      const done = await finish(payload.bulkOperation.id);
      await expectConsistent(db, done.id);
      expect(done.error_counts.CONFLICT).toBe(succeededChanged);
      expect(done.succeeded).toBe(parent.succeeded - succeededChanged);
      const conflict = await db.selectFrom("bulk_operation_items").select(["before", "after", "error_message"])
        .where("operation_id", "=", done.id).where("error_code", "=", "CONFLICT").executeTakeFirstOrThrow();
      expect((conflict.before as { priority: string }).priority).toBe("HIGH"); // the state now
      expect((conflict.after as { priority: string }).priority).toBe("LOW"); // the state the parent left
      expect((await rows(db, changedLive)).every((r) => r.priority === "HIGH")).toBe(true);
      // Only one rollback at a time is enforced while one runs; this one has ended, so force may run.
      const forced = await startRollback(tenant.agent, parentId, true);
      expect(forced.userErrors).toEqual([]);
      const forcedDone = await finish(forced.bulkOperation.id);
      await expectConsistent(db, forcedDone.id);
      const restored = await rows(db, changedLive);
      const before = await db.selectFrom("bulk_operation_items").select(["target_id", "before"])
        .where("operation_id", "=", parent.id).where("outcome", "=", "SUCCEEDED")
        .where("target_id", "in", changedLive as never[]).execute();
      expect(before.length).toBe(succeededChanged);
      for (const item of before) {
        const row = restored.find((r) => String(r.id) === String(item.target_id))!;
        expect(row.priority).toBe((item.before as { priority: string }).priority);
      }
    });

    await t.step("a rollback cannot be rolled back; one rollback at a time; roles of the parent", async () => {
      const parentId = await startOp(tenant.admin, {
        targets: { ids: ids.slice(200, 210).map(gid) },
        action: { delete: { reason: "spam" } },
      });
      await finish(parentId);
      const agentTry = await startRollback(tenant.agent, parentId);
      expect(agentTry.userErrors[0].code).toBe("FORBIDDEN");
      // Hold the tickets' row locks so the first rollback's chunk waits: it stays RUNNING.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const lockTaken = new Promise<void>((resolve) => (locked = resolve));
      const holder = db.transaction().execute(async (tx) => {
        await sql`SELECT id FROM tickets WHERE id = ANY(${ids.slice(200, 210)}::bigint[]) FOR UPDATE`.execute(tx);
        locked();
        await held;
      });
      await lockTaken;
      const first = await startRollback(tenant.admin, parentId);
      expect(first.userErrors).toEqual([]);
      const second = await startRollback(tenant.admin, parentId);
      expect(second.bulkOperation).toBeNull();
      expect(second.userErrors[0].code).toBe("ROLLBACK_IN_PROGRESS");
      release();
      await holder;
      await finish(first.bulkOperation.id);
      const ofRollback = await startRollback(tenant.admin, first.bulkOperation.id);
      expect(ofRollback.userErrors[0].code).toBe("ROLLBACK_OF_ROLLBACK");
      const viewerTry = await gql(
        server.graphqlUrl,
        tenant.viewer.token,
        `mutation($input: RollbackBulkOperationInput!) { rollbackBulkOperation(input: $input) { userErrors { code } } }`,
        { input: { id: parentId } },
      );
      expect(viewerTry.data!.rollbackBulkOperation.userErrors[0].code).toBe("FORBIDDEN");
    });

    await t.step("rollback window, with time injected", async () => {
      await sql`UPDATE tickets SET category = 'GENERAL' WHERE id = ANY(${ids.slice(210, 215)}::bigint[])`.execute(db);
      const parentId = await startOp(tenant.agent, {
        targets: { ids: ids.slice(210, 215).map(gid) },
        action: { setCategory: { category: "ACCOUNT" } },
      });
      const parent = await finish(parentId);
      const viewer = await loadViewer(db, tenant.agent);
      const limits = {
        maxTargets: 1000,
        chunkSize: 50,
        maxActivePerUser: 2,
        maxStartsPerMinute: 30,
        maxWaitingPerUser: 20,
      };
      const ended = new Date(parent.finished_at!).getTime();
      await expect(rollbackOperation(db, ticketsDomain, viewer, parent.id, {
        force: false,
        windowHours: 24,
        now: new Date(ended + 24 * 3_600_000 + 1000),
        limits,
      })).rejects.toMatchObject({ code: "ROLLBACK_WINDOW_EXPIRED" });
      const inside = await rollbackOperation(db, ticketsDomain, viewer, parent.id, {
        force: false,
        windowHours: 24,
        now: new Date(ended + 23 * 3_600_000),
        limits,
      });
      expect(inside.operation.kind).toBe("ROLLBACK");
      await waitFor(db, inside.operation.id, finished);
    });

    await t.step("a cancelled operation rolls back exactly what it applied", async () => {
      await using big = await startTestServer({ tickets: 6000, env: { WORKERS: "1", BULK_CHUNK_SIZE: "100" } });
      const bigIds = await ticketIds(big.db, big.tenant.id);
      const original = await rows(big.db, bigIds);
      const result = await gql(
        big.graphqlUrl,
        big.tenant.agent.token,
        `mutation($input: StartBulkOperationInput!) {
            startBulkOperation(input: $input) { bulkOperation { id } } }`,
        {
          input: { targets: { ids: bigIds.map(gid) }, action: { setCategory: { category: "TECHNICAL" } } },
        },
      );
      const id = result.data!.startBulkOperation.bulkOperation.id;
      await waitFor(big.db, rawId(id), (op) => op.succeeded + op.skipped + op.failed >= 300);
      await gql(
        big.graphqlUrl,
        big.tenant.agent.token,
        CANCEL,
        { id },
      );
      const cancelled = await waitFor(big.db, rawId(id), finished);
      expect(cancelled.status).toBe("CANCELLED");
      expect(cancelled.cancelled).toBeGreaterThan(0);
      const back = await gql(
        big.graphqlUrl,
        big.tenant.agent.token,
        `mutation($input: RollbackBulkOperationInput!) {
            rollbackBulkOperation(input: $input) { bulkOperation { id counts { total } } userErrors { code } } }`,
        {
          input: { id },
        },
      );
      expect(back.data!.rollbackBulkOperation.bulkOperation.counts.total).toBe(cancelled.succeeded);
      const done = await waitFor(big.db, rawId(back.data!.rollbackBulkOperation.bulkOperation.id), finished);
      expect(done.status).toBe("COMPLETED");
      expect(done.succeeded).toBe(cancelled.succeeded);
      expect(await rows(big.db, bigIds)).toEqual(original);
    });

    await t.step("preview predicts the run exactly, changes nothing, and its token runs the snapshot", async () => {
      // A mixed set: some deleted, one closed-only rule, missing and other-tenant ids.
      const targets = ids.slice(220, 320);
      await sql`UPDATE tickets SET deleted_at = now() WHERE id = ANY(${targets.slice(0, 7)}::bigint[])`.execute(db);
      const input = {
        targets: { ids: [...targets.map(gid), gid("999999999")] },
        action: { setStatus: { status: "RESOLVED" } },
      };
      const sum = await checksum(db);
      const previewed = await mutate(
        tenant.agent,
        `mutation($input: StartBulkOperationInput!) { previewBulkOperation(input: $input) {
            preview { previewToken matchedCount wouldChange wouldSkip wouldFail predictedByCode { code count }
              estimatedDurationSeconds sample { position outcome code before after } }
            userErrors { code message } } }`,
        { input },
      );
      expect(previewed.userErrors).toEqual([]);
      const preview = previewed.preview;
      expect(await checksum(db)).toEqual(sum);
      expect(preview.matchedCount).toBe(101);
      expect(preview.sample.length).toBe(50);
      // The estimate is matchedCount / the tenant's measured rate (items per second of its recent
      // finished operations). Every finished operation of the tenant is set to have run at
      // exactly 40 items/s, so any selection of them measures 40: 101 items take 2.525 s,
      // shown to a tenth. (Without a measured operation the default, 10,000/s, gives 0.)
      await sql`
          UPDATE bulk_operations SET first_chunk_at = finished_at - make_interval(secs => (succeeded + failed + skipped) / 40.0)
          WHERE tenant_id = ${tenant.id} AND finished_at IS NOT NULL AND first_chunk_at IS NOT NULL`.execute(db);
      const estimated = await mutate(
        tenant.agent,
        `mutation($input: StartBulkOperationInput!) { previewBulkOperation(input: $input) {
            preview { estimatedDurationSeconds } userErrors { code } } }`,
        { input },
      );
      expect(estimated).toEqual({ preview: { estimatedDurationSeconds: 2.5 }, userErrors: [] });
      // A start with another action but this token is refused.
      const mismatch = await gql(
        server.graphqlUrl,
        tenant.agent.token,
        `mutation($input: StartBulkOperationInput!) {
          startBulkOperation(input: $input) { bulkOperation { id } userErrors { code } } }`,
        {
          input: { ...input, action: { setStatus: { status: "PENDING" } }, previewToken: preview.previewToken },
        },
      );
      expect(mismatch.data!.startBulkOperation.userErrors[0].code).toBe("PREVIEW_MISMATCH");
      const id = await startOp(tenant.agent, { ...input, previewToken: preview.previewToken });
      const done = await finish(id);
      await expectConsistent(db, done.id);
      expect(done.total).toBe(preview.matchedCount);
      expect(done.succeeded).toBe(preview.wouldChange);
      expect(done.skipped).toBe(preview.wouldSkip);
      expect(done.failed).toBe(preview.wouldFail);
      const predicted = Object.fromEntries(
        preview.predictedByCode.map((c: { code: string; count: number }) => [c.code, c.count]),
      );
      expect(done.error_counts).toEqual(predicted);
      // The sample's predicted after-images equal what the run wrote.
      const written = await db.selectFrom("bulk_operation_items").select(["position", "outcome", "after"])
        .where("operation_id", "=", done.id).where("position", "<", 50).orderBy("position").execute();
      for (const [i, item] of preview.sample.entries()) {
        expect(item.outcome).toBe(written[i].outcome);
        if (item.outcome === "SUCCEEDED") {
          expect({ ...item.after, version: undefined }).toEqual({
            ...(written[i].after as object),
            version: undefined,
          });
        }
      }
    });

    await t.step("a filter preview's token runs the frozen snapshot, not tickets created since", async () => {
      const input = {
        targets: { filter: { titleContains: "Refund request" } },
        action: { setPriority: { priority: "HIGH" } },
      };
      const previewed = await mutate(
        tenant.agent,
        `mutation($input: StartBulkOperationInput!) {
          previewBulkOperation(input: $input) { preview { previewToken matchedCount } userErrors { code } } }`,
        {
          input,
        },
      );
      await sql`INSERT INTO tickets (tenant_id, title) VALUES (${tenant.id}, 'Refund request, new')`.execute(db);
      const id = await startOp(tenant.agent, { ...input, previewToken: previewed.preview.previewToken });
      const done = await finish(id);
      expect(done.total).toBe(previewed.preview.matchedCount);
    });

    await t.step("retry and rollback progress arrive over the subscription", async () => {
      const parentId = await startOp(tenant.agent, {
        targets: { ids: ids.slice(320, 400).map(gid) },
        action: { setStatus: { status: "CLOSED" } },
      });
      await finish(parentId);
      await using client = wsClient(server.wsUrl, tenant.agent.token);
      for (const payload of [await startRollback(tenant.agent, parentId), await retry(tenant.agent, parentId)]) {
        const events = await collect<{ bulkOperationProgress: { status: string; kind: string } }>(
          client,
          `subscription($id: ID!) { bulkOperationProgress(id: $id) { status kind } }`,
          { id: payload.bulkOperation.id },
        );
        expect(events.length).toBeGreaterThanOrEqual(1);
        expect(events[0].bulkOperationProgress.kind).toBe(payload.bulkOperation.kind);
        expect(finished({ status: events.at(-1)!.bulkOperationProgress.status } as never)).toBe(true);
      }
    });
  },
});
