/**
 * Issue 10, "Permanent delete": the PURGE action (ADMIN only) removes tickets and their
 * comments for good; its ledger keeps each ticket's whole row with its comments, so a rollback
 * within the window re-creates them exactly (ids, every column, comment ids), with CONFLICT for
 * an id re-created since or a unique key taken since; a purge over a filter needs a
 * previewToken; retention later drops the images; cancel mid-purge leaves exact counts. Real
 * server, real worker threads, GraphQL over HTTP, checked against the database.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { purgeExpired } from "../src/bulk/retention.ts";
import type { Db } from "../src/db/database.ts";
import { encodeId } from "../src/graphql/ids.ts";
import { finished, ticketIds, waitFor, waitForLockWait } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { gql } from "./helpers/graphql.ts";
import { waitUntil } from "./helpers/wait.ts";
import { startTestServer, type TestServer, type TestUser } from "./helpers/server.ts";

const gid = (id: string) => encodeId("Ticket", id);
const rawId = (globalId: string) => atob(globalId.replaceAll("-", "+").replaceAll("_", "/")).split(":")[1];

interface UserErrorShape {
  code: string;
  field: string[] | null;
  message: string;
}

// deno-lint-ignore no-explicit-any -- each mutation reads a different payload shape
async function mutate(server: TestServer, user: TestUser, query: string, input: unknown): Promise<any> {
  const result = await gql(server.graphqlUrl, user.token, query, { input });
  expect(result.errors).toBeUndefined();
  return Object.values(result.data as Record<string, unknown>)[0];
}

const START = `mutation($input: StartBulkOperationInput!) { startBulkOperation(input: $input) {
  bulkOperation { id action { __typename ... on PurgeAction { type reason } } } userErrors { code field message } } }`;
const ROLLBACK = `mutation($input: RollbackBulkOperationInput!) { rollbackBulkOperation(input: $input) {
  bulkOperation { id kind } userErrors { code field message } } }`;
const PREVIEW = `mutation($input: StartBulkOperationInput!) { previewBulkOperation(input: $input) {
  preview { previewToken matchedCount wouldChange wouldFail sample { targetId outcome before after } }
  userErrors { code field message } } }`;
const CANCEL = `mutation($input: BulkOperationIdInput!) { cancelBulkOperation(input: $input) {
  bulkOperation { id status } userErrors { code field message } } }`;

async function startPurge(server: TestServer, user: TestUser, input: Record<string, unknown>) {
  const payload = await mutate(server, user, START, { action: { purge: {} }, ...input });
  return payload as { bulkOperation: { id: string; action: unknown } | null; userErrors: UserErrorShape[] };
}

async function finish(server: TestServer, globalId: string) {
  await waitFor(server.db, rawId(globalId), finished, 60_000);
  return await expectConsistent(server.db, rawId(globalId));
}

/**
 * Every column of the tickets and of their comments, as PostgreSQL prints the rows (exact to
 * the microsecond), ordered by id.
 */
async function rowsOf(db: Db, ids: string[]) {
  const { rows: tickets } = await sql<{ row: string }>`
    SELECT t::text AS row FROM tickets t WHERE id = ANY(${ids}::bigint[]) ORDER BY id`.execute(db);
  const { rows: comments } = await sql<{ row: string }>`
    SELECT c::text AS row FROM ticket_comments c WHERE ticket_id = ANY(${ids}::bigint[]) ORDER BY id`.execute(db);
  return { tickets: tickets.map((r) => r.row), comments: comments.map((r) => r.row) };
}

/** Zero to three comments per ticket (by id), some of them older, written straight to the table. */
async function addComments(db: Db, tenantId: string, authorId: string, ids: string[]) {
  await sql`
    INSERT INTO ticket_comments (tenant_id, ticket_id, author_id, body, created_at)
    SELECT ${tenantId}, t.id, ${authorId}, 'comment ' || n || ' on ' || t.id || E' with "quotes",\nand a newline',
      now() - n * interval '1 hour 1.234567 second'
    FROM unnest(${ids}::bigint[]) AS t(id), generate_series(1, 3) AS n
    WHERE n <= t.id % 4`.execute(db);
}

/** The operation's audit events, oldest first. */
async function eventsOf(db: Db, operationId: string) {
  return await db.selectFrom("bulk_operation_events").select(["type", "actor_id", "data"])
    .where("operation_id", "=", operationId).orderBy("id").execute();
}

/** How many rows of the database still hold a text (tickets, comments, the whole ledger). */
async function occurrences(db: Db, text: string) {
  const { rows: [row] } = await sql<{ tickets: number; comments: number; ledger: number }>`SELECT
    (SELECT count(*) FROM tickets WHERE body LIKE ${`%${text}%`} OR title LIKE ${`%${text}%`})::int AS tickets,
    (SELECT count(*) FROM ticket_comments WHERE body LIKE ${`%${text}%`})::int AS comments,
    (SELECT count(*) FROM bulk_operation_items WHERE before::text LIKE ${`%${text}%`}
       OR after::text LIKE ${`%${text}%`})::int AS ledger`.execute(db);
  return row;
}

Deno.test({
  name: "a purge and its rollback (ids, fields and comments back exactly)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using server = await startTestServer({
      tickets: 300,
      env: { WORKERS: "2", BULK_CHUNK_SIZE: "25", BULK_MAX_STARTS_PER_MINUTE: "1000" },
    });
    const { db, tenant } = server;
    const ids = await ticketIds(db, tenant.id);
    await addComments(db, tenant.id, tenant.agent.id, ids);

    await t.step("by ids: tickets (soft-deleted and closed ones too) and comments gone, images kept", async () => {
      const targets = ids.slice(0, 80);
      // Soft-deleted, closed, and commented by another bulk operation (bulk_operation_id set).
      await sql`UPDATE tickets SET deleted_at = now() - interval '2 days' WHERE id = ANY(${
        targets.slice(0, 10)
      }::bigint[])`
        .execute(db);
      await sql`UPDATE tickets SET status = 'CLOSED', version = version + 1 WHERE id = ANY(${
        targets.slice(10, 20)
      }::bigint[])`
        .execute(db);
      const comment = await mutate(server, tenant.agent, START, {
        targets: { ids: targets.slice(20).map(gid) },
        action: { addComment: { body: "from a bulk operation" } },
      });
      const commentOp = await finish(server, comment.bulkOperation.id);
      expect(commentOp.succeeded).toBeGreaterThan(30); // seeded CLOSED tickets refuse comments
      const original = await rowsOf(db, targets);
      expect(original.tickets.length).toBe(80);
      expect(original.comments.length).toBeGreaterThan(100);

      const started = await startPurge(server, tenant.admin, {
        targets: { ids: [...targets, "999999999"].map(gid) },
        action: { purge: { reason: "GDPR erasure request #12" } },
      });
      expect(started.userErrors).toEqual([]);
      const purge = await finish(server, started.bulkOperation!.id);
      expect([purge.status, purge.succeeded, purge.failed, purge.error_counts]).toEqual([
        "COMPLETED_WITH_ERRORS",
        80,
        1,
        { NOT_FOUND: 1 },
      ]);
      expect(await rowsOf(db, targets)).toEqual({ tickets: [], comments: [] });
      expect(await eventsOf(db, purge.id)).toEqual([
        { type: "CREATED", actor_id: tenant.admin.id, data: { total: 81, status: "RUNNING", actionType: "PURGE" } },
        { type: "STARTED", actor_id: null, data: {} },
        { type: "FINISHED", actor_id: null, data: expect.objectContaining({ status: "COMPLETED_WITH_ERRORS" }) },
      ]);
      // The rest of the tenant is untouched.
      expect((await ticketIds(db, tenant.id)).length).toBe(ids.length - 80);

      // The single-ticket query no longer finds one.
      const single = await gql(server.graphqlUrl, tenant.admin.token, `query($id: ID!) { ticket(id: $id) { id } }`, {
        id: gid(targets[0]),
      });
      expect(single.errors).toBeUndefined();
      expect(single.data!.ticket).toBeNull();

      // The download of its items holds every purged ticket with its comments (before-images).
      const download = await fetch(`${server.url}/bulk-operations/${started.bulkOperation!.id}/items.jsonl`, {
        headers: { authorization: `Bearer ${tenant.admin.token}` },
      });
      expect(download.status).toBe(200);
      const items = (await download.text()).trim().split("\n").map((line) => JSON.parse(line));
      expect(items.length).toBe(81);
      const purged = items.filter((i) => i.outcome === "SUCCEEDED");
      expect(purged.map((i) => i.before.ticket.id)).toEqual(targets);
      expect(purged.reduce((n, i) => n + i.before.comments.length, 0)).toBe(original.comments.length);
      const bulkComments = purged.flatMap((i) => i.before.comments)
        .filter((c: { bulk_operation_id: string | null }) => c.bulk_operation_id === commentOp.id);
      expect(bulkComments.length).toBe(commentOp.succeeded);

      // Only an ADMIN may undo it.
      const refused = await mutate(server, tenant.agent, ROLLBACK, { id: started.bulkOperation!.id });
      expect(refused.userErrors.map((e: UserErrorShape) => e.code)).toEqual(["FORBIDDEN"]);
      expect(await rowsOf(db, targets)).toEqual({ tickets: [], comments: [] });

      const undo = await mutate(server, tenant.admin, ROLLBACK, { id: started.bulkOperation!.id });
      expect(undo.userErrors).toEqual([]);
      const rollback = await finish(server, undo.bulkOperation.id);
      expect([rollback.status, rollback.succeeded]).toEqual(["COMPLETED", 80]);
      // Every column of every ticket and comment as it was: ids, versions, timestamps, deleted_at.
      expect(await rowsOf(db, targets)).toEqual(original);

      // The restored comments kept their ids and operation: the ADD_COMMENT operation can still be undone.
      const uncomment = await mutate(server, tenant.agent, ROLLBACK, { id: comment.bulkOperation.id });
      expect(uncomment.userErrors).toEqual([]);
      expect((await finish(server, uncomment.bulkOperation.id)).succeeded).toBe(commentOp.succeeded);
      const { rows: [left] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ticket_comments
          WHERE bulk_operation_id = ${commentOp.id}`.execute(db);
      expect(left.n).toBe(0);
      // A ticket created now gets a new id: the sequence never hands out a purged one.
      const { rows: [created] } = await sql<{ id: string }>`INSERT INTO tickets (tenant_id, title)
          VALUES (${tenant.id}, 'after the rollback') RETURNING id::text AS id`.execute(db);
      expect(BigInt(created.id)).toBeGreaterThan(BigInt(ids[ids.length - 1]));
    });

    await t.step("over a filter: refused without a previewToken, runs the previewed snapshot", async () => {
      const filter = { priority: ["LOW"], includeDeleted: true };
      const { rows: [matching] } = await sql<{ n: number; comments: number }>`
          SELECT count(*)::int AS n, (SELECT count(*) FROM ticket_comments c JOIN tickets t ON t.id = c.ticket_id
            WHERE t.tenant_id = ${tenant.id} AND t.priority = 'LOW')::int AS comments
          FROM tickets WHERE tenant_id = ${tenant.id} AND priority = 'LOW'`.execute(db);
      expect(matching.n).toBeGreaterThan(10);
      const operationsBefore = await db.selectFrom("bulk_operations").select("id").execute();

      const bare = await startPurge(server, tenant.admin, { targets: { filter } });
      expect(bare.bulkOperation).toBeNull();
      expect(bare.userErrors).toEqual([{
        code: "PREVIEW_REQUIRED",
        field: ["input", "previewToken"],
        message: expect.stringContaining("previewToken"),
      }]);
      expect((await db.selectFrom("bulk_operations").select("id").execute()).length).toBe(operationsBefore.length);

      const preview = await mutate(server, tenant.admin, PREVIEW, { targets: { filter }, action: { purge: {} } });
      expect(preview.userErrors).toEqual([]);
      expect([preview.preview.matchedCount, preview.preview.wouldChange]).toEqual([matching.n, matching.n]);
      // A preview names what goes and how many comments with it, without the bodies.
      const sampled = preview.preview.sample[0];
      expect(Object.keys(sampled.before).sort()).toEqual(
        ["assigneeId", "category", "comments", "deletedAt", "priority", "status", "version"],
      );
      expect(sampled.after).toBeNull();
      const previewed = await sql<{ n: number }>`SELECT count(*)::int AS n FROM tickets
          WHERE tenant_id = ${tenant.id} AND priority = 'LOW'`.execute(db);
      expect(previewed.rows[0].n).toBe(matching.n); // the preview removed nothing

      // A LOW ticket created after the preview is not in its snapshot and stays.
      const { rows: [late] } = await sql<{ id: string }>`INSERT INTO tickets (tenant_id, title, priority)
          VALUES (${tenant.id}, 'late LOW ticket', 'LOW') RETURNING id::text AS id`.execute(db);
      const started = await startPurge(server, tenant.admin, {
        targets: { filter },
        previewToken: preview.preview.previewToken,
      });
      expect(started.userErrors).toEqual([]);
      expect(started.bulkOperation!.action).toEqual({ __typename: "PurgeAction", type: "PURGE", reason: null });
      const purge = await finish(server, started.bulkOperation!.id);
      expect([purge.status, purge.succeeded]).toEqual(["COMPLETED", matching.n]);
      const { rows: [now] } = await sql<{ ids: string[] }>`SELECT array_agg(id::text) AS ids FROM tickets
          WHERE tenant_id = ${tenant.id} AND priority = 'LOW'`.execute(db);
      expect(now.ids).toEqual([late.id]);
      const { rows: [kept] } = await sql<
        { comments: number }
      >`SELECT coalesce(sum(jsonb_array_length(before->'comments')),
          0)::int AS comments FROM bulk_operation_items WHERE operation_id = ${purge.id}`.execute(db);
      expect(kept.comments).toBe(matching.comments);
    });

    await t.step("only an ADMIN may purge, preview a purge or cancel one; nothing is written", async () => {
      const live = (await ticketIds(db, tenant.id)).slice(100, 110);
      const targets = { ids: live.map(gid) };
      const before = await rowsOf(db, live);
      expect(before.tickets.length).toBe(10);
      for (const user of [tenant.agent, tenant.viewer]) {
        const started = await startPurge(server, user, { targets });
        expect(started.userErrors.map((e) => e.code)).toEqual(["FORBIDDEN"]);
        const preview = await mutate(server, user, PREVIEW, { targets, action: { purge: {} } });
        expect(preview.userErrors.map((e: UserErrorShape) => e.code)).toEqual(["FORBIDDEN"]);
      }
      // An ADMIN's purge, scheduled for later: an AGENT cannot cancel it.
      const scheduled = await startPurge(server, tenant.admin, {
        targets,
        scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
      });
      expect(scheduled.userErrors).toEqual([]);
      const agentCancel = await mutate(server, tenant.agent, CANCEL, { id: scheduled.bulkOperation!.id });
      expect(agentCancel.userErrors.map((e: UserErrorShape) => e.code)).toEqual(["FORBIDDEN"]);
      const adminCancel = await mutate(server, tenant.admin, CANCEL, { id: scheduled.bulkOperation!.id });
      expect(adminCancel.bulkOperation.status).toBe("CANCELLED");
      expect(await rowsOf(db, live)).toEqual(before);
    });

    await t.step(
      "a comment committed while the purge waits for its ticket goes with it, into the image",
      async () => {
        const target = (await ticketIds(db, tenant.id)).at(-3)!;
        let commit!: () => void;
        const committed = new Promise<void>((resolve) => commit = resolve);
        // The insert's foreign-key check holds FOR KEY SHARE on the ticket until this transaction ends.
        const adding = db.transaction().execute(async (tx) => {
          await sql`INSERT INTO ticket_comments (tenant_id, ticket_id, author_id, body)
            VALUES (${tenant.id}, ${target}, ${tenant.agent.id}, 'added while the purge waits')`.execute(tx);
          await committed;
        });
        const started = await startPurge(server, tenant.admin, { targets: { ids: [gid(target)] } });
        await waitForLockWait(db, "the purge's chunk on the ticket being commented");
        commit();
        await adding;
        const purge = await finish(server, started.bulkOperation!.id);
        expect(purge.succeeded).toBe(1);
        const { rows: [item] } = await sql<{ attempts: number; bodies: string[] }>`
          SELECT attempts, ARRAY(SELECT c->>'body' FROM jsonb_array_elements(before->'comments') c) AS bodies
          FROM bulk_operation_items WHERE operation_id = ${purge.id}`.execute(db);
        // First attempt (the chunk waited, it did not fail on the new comment), and the comment is in the image.
        expect(item.attempts).toBe(1);
        expect(item.bodies).toContain("added while the purge waits");
        expect(await rowsOf(db, [target])).toEqual({ tickets: [], comments: [] });
      },
    );

    await t.step("rollback: CONFLICT for an id or a unique key taken since; retention drops the images", async () => {
      const live = await ticketIds(db, tenant.id);
      // The second target has comments (ticket id % 4 of them): one of their ids gets reused.
      const targets = live.slice(120, 140).sort((a, b) =>
        Number(BigInt(a) % 4n === 0n) - Number(BigInt(b) % 4n === 0n)
      );
      await sql`UPDATE tickets SET title = 'reimport:' || id WHERE id = ANY(${targets}::bigint[])`.execute(db);
      const kept = await rowsOf(db, targets.slice(3));
      const started = await startPurge(server, tenant.admin, { targets: { ids: targets.map(gid) } });
      const purge = await finish(server, started.bulkOperation!.id);
      expect(purge.succeeded).toBe(20);
      // Reused: a row re-created with the purged id (only an explicit id can: the sequence is past it).
      const [reused, commentReused, reimported] = [targets[0], targets[1], targets[2]];
      await sql`INSERT INTO tickets (id, tenant_id, title) OVERRIDING SYSTEM VALUE
          VALUES (${reused}, ${tenant.id}, 'someone else')`.execute(db);
      const { rows: [image] } = await sql<{ id: string }>`SELECT before->'comments'->0->>'id' AS id
          FROM bulk_operation_items WHERE operation_id = ${purge.id} AND target_id = ${commentReused}`.execute(db);
      expect(image.id).not.toBeNull();
      await sql`INSERT INTO ticket_comments (id, tenant_id, ticket_id, author_id, body) OVERRIDING SYSTEM VALUE
          VALUES (${image.id}, ${tenant.id}, ${live[150]}, ${tenant.agent.id}, 'a comment with a purged id')`.execute(
        db,
      );
      // Re-imported: a new ticket (new id) holding a unique key of the purged one, as an externalId would
      // (the test adds that unique index itself; the rollback knows no column by name).
      await sql`CREATE UNIQUE INDEX tickets_reimport_key ON tickets (tenant_id, title) WHERE title LIKE 'reimport:%'`
        .execute(db);
      await sql`INSERT INTO tickets (tenant_id, title) VALUES (${tenant.id}, ${`reimport:${reimported}`})`.execute(
        db,
      );

      for (const force of [false, true]) {
        const undo = await mutate(server, tenant.admin, ROLLBACK, { id: started.bulkOperation!.id, force });
        expect(undo.userErrors).toEqual([]);
        const rollback = await finish(server, undo.bulkOperation.id);
        // force does not overwrite: the conflicting rows stay CONFLICT, the others were restored by the first.
        expect([rollback.succeeded, rollback.skipped, rollback.error_counts]).toEqual(
          force ? [0, 3, { CONFLICT: 3 }] : [17, 3, { CONFLICT: 3 }],
        );
      }
      const { rows: conflicts } = await sql<{ target_id: string; error_message: string }>`
          SELECT i.target_id::text AS target_id, i.error_message FROM bulk_operation_items i
          JOIN bulk_operations o ON o.id = i.operation_id
          WHERE o.parent_id = ${purge.id} AND i.error_code = 'CONFLICT' AND o.action_params->>'force' = 'false'
          ORDER BY i.target_id`.execute(db);
      expect(conflicts.map((c) => c.target_id)).toEqual([reused, commentReused, reimported]);
      expect(conflicts[0].error_message).toContain(`Ticket id ${reused} exists again`);
      expect(conflicts[1].error_message).toContain("comment ids exists again");
      expect(conflicts[2].error_message).toContain("unique keys");
      // The restored ones are back exactly; the conflicting rows were not touched.
      expect(await rowsOf(db, targets.slice(3))).toEqual(kept);
      const { rows: [someoneElse] } = await sql<{ title: string }>`SELECT title FROM tickets WHERE id = ${reused}`
        .execute(db);
      expect(someoneElse.title).toBe("someone else");

      // Retention: the purge (with its images) and its rollbacks go once past BULK_RETENTION_DAYS.
      const marker = `reimport:${targets[3]}`;
      expect((await occurrences(db, marker)).ledger).toBeGreaterThan(0);
      await sql`UPDATE bulk_operations SET finished_at = now() - interval '91 days'
          WHERE id = ${purge.id} OR parent_id = ${purge.id}`.execute(db);
      // Counted in the database, not as the sum of these runs' results: the pool's own retention loop
      // (every RETENTION_INTERVAL_MS) may take one of them meanwhile (CI counted 2 of 3 here), and finish it.
      const left = async () =>
        (await sql<{ n: number }>`SELECT count(*)::int AS n FROM bulk_operations
          WHERE id = ${purge.id} OR parent_id = ${purge.id}`.execute(db)).rows[0].n;
      await waitUntil(async () => {
        await purgeExpired(db, { retentionDays: 90, budgetMs: 60_000 });
        return await left() === 0;
      }, { timeoutMs: 30_000, what: "retention deleted the purge and its two rollbacks", describe: left });
      expect(
        await db.selectFrom("bulk_operation_items").select("position").where("operation_id", "=", purge.id)
          .execute(),
      ).toEqual([]);
      // The images (ticket text and comment bodies) are nowhere in the ledger now; the restored ticket remains.
      expect(await occurrences(db, marker)).toEqual({ tickets: 1, comments: 0, ledger: 0 });
      const gone = await mutate(server, tenant.admin, ROLLBACK, { id: started.bulkOperation!.id });
      expect(gone.userErrors.map((e: UserErrorShape) => e.code)).toEqual(["NOT_FOUND"]);
    });
  },
});

Deno.test({
  name: "cancel mid-purge: the chunk in flight finishes, the rest ends CANCELLED and stays, with exact counts",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const CHUNK = 20;
    await using server = await startTestServer({ tickets: 200, env: { WORKERS: "1", BULK_CHUNK_SIZE: String(CHUNK) } });
    const { db, tenant } = server;
    const ids = await ticketIds(db, tenant.id);
    await addComments(db, tenant.id, tenant.agent.id, ids);
    const original = await rowsOf(db, ids);
    // Chunk 2's first ticket is held: the worker purges chunks 0 and 1, then waits in chunk 2.
    let release!: () => void;
    const released = new Promise<void>((resolve) => release = resolve);
    const holding = db.transaction().execute(async (tx) => {
      await sql`SELECT id FROM tickets WHERE id = ${ids[2 * CHUNK]} FOR UPDATE`.execute(tx);
      await released;
    });
    const started = await startPurge(server, tenant.admin, { targets: { ids: ids.map(gid) } });
    expect(started.userErrors).toEqual([]);
    const id = rawId(started.bulkOperation!.id);
    await waitFor(db, id, (op) => op.succeeded === 2 * CHUNK);
    await waitForLockWait(db, "chunk 2 of the purge");
    const cancel = await mutate(server, tenant.admin, CANCEL, { id: started.bulkOperation!.id });
    expect(cancel.userErrors).toEqual([]);
    expect(cancel.bulkOperation.status).toBe("CANCELLING");
    release();
    await holding;
    const done = await finish(server, started.bulkOperation!.id);
    expect([done.status, done.succeeded, done.failed, done.skipped, done.cancelled]).toEqual([
      "CANCELLED",
      3 * CHUNK,
      0,
      0,
      200 - 3 * CHUNK,
    ]);
    expect((await eventsOf(db, id)).map((e) => [e.type, e.actor_id])).toEqual([
      ["CREATED", tenant.admin.id],
      ["STARTED", null],
      ["CANCEL_REQUESTED", tenant.admin.id],
      ["CANCELLED", null],
    ]);
    // Exactly the first three chunks' tickets and comments are gone; every other row is as it was.
    const purged = ids.slice(0, 3 * CHUNK);
    expect(await rowsOf(db, purged)).toEqual({ tickets: [], comments: [] });
    const rest = await rowsOf(db, ids.slice(3 * CHUNK));
    expect(rest.tickets).toEqual(original.tickets.slice(3 * CHUNK));
    expect(rest.comments).toEqual(original.comments.filter((c) => !purged.includes(c.slice(1).split(",")[2])));
    // The cancelled purge rolls back what it removed.
    const undo = await mutate(server, tenant.admin, ROLLBACK, { id: started.bulkOperation!.id });
    expect(undo.userErrors).toEqual([]);
    const rollback = await finish(server, undo.bulkOperation.id);
    expect([rollback.status, rollback.succeeded]).toEqual(["COMPLETED", 3 * CHUNK]);
    expect(await rowsOf(db, ids)).toEqual(original);
  },
});
