/**
 * Behaviour the README promises for bulk operations that no other test pinned: `restore {}`
 * restores, `assign` with null unassigns, previewTokens that are unknown, expired, someone
 * else's or made for other input are refused (writing nothing), a ticket changed between the
 * start and its chunk is judged when the chunk runs, ROLLBACK_WINDOW_HOURS comes from the
 * configuration, and a rollback moves version and updatedAt forward.
 *
 * The server runs with WORKERS=0 and the test applies chunks itself (claimJob + runChunk, as
 * a worker does), so "between the start and the chunk" is a known moment, not a race.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { encodeId } from "../src/graphql/ids.ts";
import { dbIdOf, ROLLBACK, startOk, startOp, ticketGid, userGid, writtenRows } from "./helpers/api.ts";
import { runChunks, ticketIds } from "./helpers/bulk.ts";
import {
  expectConsistent,
  expectedOutcomes,
  expectLedger,
  failed,
  ok,
  setsField,
  skippedNoChange,
  ticketStates,
} from "./helpers/bulk_checks.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestServer, type TestUser } from "./helpers/server.ts";

/** Not the default (24): a window read from anywhere but the configuration would show. */
const WINDOW_HOURS = 2;

const PREVIEW = `mutation($input: StartBulkOperationInput!) { previewBulkOperation(input: $input) {
  preview { previewToken matchedCount wouldChange wouldSkip wouldFail sample { position outcome code } }
  userErrors { code field message } } }`;

async function preview(server: TestServer, user: TestUser, input: Record<string, unknown>) {
  const result = await gql(server.graphqlUrl, user.token, PREVIEW, { input });
  expect(result.errors).toBeUndefined();
  expect(result.data.previewBulkOperation.userErrors).toEqual([]);
  return result.data.previewBulkOperation.preview as {
    previewToken: string;
    matchedCount: number;
    wouldChange: number;
    wouldSkip: number;
    wouldFail: number;
    sample: { position: number; outcome: string; code: string | null }[];
  };
}

/** Starts and runs an operation to its end; returns its finished, consistent row. */
async function run(server: TestServer, user: TestUser, input: Record<string, unknown>) {
  const op = await startOk(server, user, input);
  await runChunks(server);
  return await expectConsistent(server.db, op.dbId);
}

async function startRollback(server: TestServer, user: TestUser, id: string) {
  const result = await gql(server.graphqlUrl, user.token, ROLLBACK, { id });
  expect(result.errors).toBeUndefined();
  return result.data.rollbackBulkOperation as {
    bulkOperation: { id: string; kind: string } | null;
    userErrors: { code: string; field: string[] | null; message: string }[];
  };
}

/** Ticket rows as stored, by id (for before/after comparisons of whole rows). */
async function ticketRows(server: TestServer, ids: string[]) {
  const { rows } = await sql<
    {
      id: string;
      status: string;
      priority: string;
      assignee_id: string | null;
      deleted_at: Date | null;
      version: number;
      updated_at: Date;
    }
  >`SELECT id::text AS id, status, priority, assignee_id, deleted_at, version, updated_at
    FROM tickets WHERE id = ANY(${ids}::bigint[]) ORDER BY id`.execute(server.db);
  return new Map(rows.map((row) => [row.id, row]));
}

async function withServer(fn: (server: TestServer, ids: string[]) => Promise<void>): Promise<void> {
  await using server = await startTestServer({
    tickets: 40,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: "5", ROLLBACK_WINDOW_HOURS: String(WINDOW_HOURS) },
  });
  await fn(server, await ticketIds(server.db, server.tenant.id));
}

Deno.test("restore {} brings deleted tickets back (version + 1); a ticket that is not deleted is NO_CHANGE", async () => {
  await withServer(async (server, ids) => {
    const { admin } = server.tenant;
    const deleted = ids.slice(0, 8);
    await run(server, admin, { targets: { ids: deleted.map(ticketGid) }, action: { delete: {} } });
    const targets = ids.slice(0, 10); // 8 deleted, 2 not
    const before = await ticketStates(server.db, server.tenant.id);
    expect(targets.map((id) => before.get(id)!.deleted)).toEqual([...deleted.map(() => true), false, false]);

    const done = await run(server, admin, { targets: { ids: targets.map(ticketGid) }, action: { restore: {} } });
    expect(done).toMatchObject({ status: "COMPLETED", total: 10, succeeded: 8, skipped: 2, failed: 0 });
    // expectedOutcomes treats deleted tickets as DELETED for field changes; restore is the one
    // action for which a deleted ticket is the target, so the expectation is spelled out.
    await expectLedger(server.db, done.id, targets.map((id) => before.get(id)!.deleted ? ok : skippedNoChange));
    const after = await ticketStates(server.db, server.tenant.id);
    expect(targets.map((id) => [after.get(id)!.deleted, after.get(id)!.version - before.get(id)!.version])).toEqual(
      targets.map((id) => [false, before.get(id)!.deleted ? 1 : 0]),
    );
    // An agent may not restore (ADMIN only), and nothing is written.
    const rows = await writtenRows(server.db);
    const refused = await startOp(server, server.tenant.agent, {
      targets: { ids: targets.map(ticketGid) },
      action: { restore: {} },
    });
    expect(refused.userErrors.map((e) => e.code)).toEqual(["FORBIDDEN"]);
    expect(await writtenRows(server.db)).toEqual(rows);
  });
});

Deno.test("assign with assigneeId null unassigns; already unassigned is NO_CHANGE; closed tickets are FORBIDDEN", async () => {
  await withServer(async (server, ids) => {
    const { agent } = server.tenant;
    const targets = ids.slice(0, 12);
    const before = await ticketStates(server.db, server.tenant.id);
    // The seed leaves every fourth ticket unassigned and every fifth closed: all three cases occur.
    expect(targets.some((id) => before.get(id)!.assigneeId === null && before.get(id)!.status !== "CLOSED")).toBe(
      true,
    );
    expect(targets.some((id) => before.get(id)!.assigneeId !== null && before.get(id)!.status !== "CLOSED")).toBe(
      true,
    );
    expect(targets.some((id) => before.get(id)!.status === "CLOSED")).toBe(true);

    const done = await run(server, agent, {
      targets: { ids: targets.map(ticketGid) },
      action: { assign: { assigneeId: null } },
    });
    const expected = expectedOutcomes(
      targets,
      before,
      setsField("assigneeId", null),
    );
    await expectLedger(server.db, done.id, expected);
    const after = await ticketStates(server.db, server.tenant.id);
    expect(targets.map((id) => after.get(id)!.assigneeId)).toEqual(
      targets.map((id) => before.get(id)!.status === "CLOSED" ? before.get(id)!.assigneeId : null),
    );
    // And back: assigning to a user sets exactly that user on the open ones.
    await run(server, agent, {
      targets: { ids: targets.map(ticketGid) },
      action: { assign: { assigneeId: userGid(server.tenant.admin.id) } },
    });
    const reassigned = await ticketStates(server.db, server.tenant.id);
    expect(targets.filter((id) => before.get(id)!.status !== "CLOSED").map((id) => reassigned.get(id)!.assigneeId))
      .toEqual(targets.filter((id) => before.get(id)!.status !== "CLOSED").map(() => server.tenant.admin.id));
  });
});

Deno.test("previewToken: unknown, expired, another user's, other targets or other parameters are refused; nothing written", async () => {
  await withServer(async (server, ids) => {
    const { agent } = server.tenant;
    const input = { targets: { ids: ids.slice(0, 10).map(ticketGid) }, action: { setPriority: { priority: "HIGH" } } };
    const { previewToken } = await preview(server, agent, input);
    const written = await writtenRows(server.db);
    const refusal = async (user: TestUser, startInput: Record<string, unknown>) => {
      const payload = await startOp(server, user, startInput);
      expect(payload.bulkOperation).toBeNull();
      return payload.userErrors.map(({ code, field }) => ({ code, field }));
    };
    const expired = [{ code: "PREVIEW_EXPIRED", field: ["input", "previewToken"] }];
    const mismatch = [{ code: "PREVIEW_MISMATCH", field: ["input", "previewToken"] }];

    expect(await refusal(agent, { ...input, previewToken: encodeId("BulkPreview", crypto.randomUUID()) }))
      .toEqual(expired);
    // Another user of the same tenant cannot use it: it is as unknown to them.
    expect(await refusal(server.tenant.admin, { ...input, previewToken })).toEqual(expired);
    expect(
      await refusal(agent, { ...input, targets: { ids: ids.slice(0, 9).map(ticketGid) }, previewToken }),
    ).toEqual(mismatch);
    expect(await refusal(agent, { ...input, targets: { filter: {} }, previewToken })).toEqual(mismatch);
    expect(await refusal(agent, { ...input, action: { setPriority: { priority: "LOW" } }, previewToken }))
      .toEqual(mismatch);
    expect(await writtenRows(server.db)).toEqual(written);

    // The same token an hour later (its expiry moved into the past): refused too.
    await sql`UPDATE bulk_previews SET expires_at = now() - interval '1 second'`.execute(server.db);
    expect(await refusal(agent, { ...input, previewToken })).toEqual(expired);
    expect(await writtenRows(server.db)).toEqual(written);

    // A fresh preview's token is accepted and runs its frozen targets.
    const fresh = await preview(server, agent, input);
    const op = await startOk(server, agent, { ...input, previewToken: fresh.previewToken });
    expect(op.counts.total).toBe(10);
  });
});

Deno.test("a ticket changed after the start with a previewToken is judged again when its chunk runs", async () => {
  await withServer(async (server, ids) => {
    const { agent } = server.tenant;
    const targets = ids.slice(0, 10);
    await sql`UPDATE tickets SET status = 'OPEN' WHERE id = ANY(${targets}::bigint[])`.execute(server.db);
    const input = { targets: { ids: targets.map(ticketGid) }, action: { setStatus: { status: "PENDING" } } };
    const predicted = await preview(server, agent, input);
    expect(predicted).toMatchObject({ matchedCount: 10, wouldChange: 10, wouldSkip: 0, wouldFail: 0 });

    const op = await startOk(server, agent, { ...input, previewToken: predicted.previewToken });
    // Between the start and the chunks: one ticket closed (CLOSED -> PENDING is not in the
    // transition table), one already PENDING, one deleted.
    await sql`UPDATE tickets SET status = 'CLOSED' WHERE id = ${targets[1]}`.execute(server.db);
    await sql`UPDATE tickets SET status = 'PENDING' WHERE id = ${targets[6]}`.execute(server.db);
    await sql`UPDATE tickets SET deleted_at = now() WHERE id = ${targets[8]}`.execute(server.db);
    expect(await runChunks(server)).toBe(2);

    const done = await expectConsistent(server.db, op.dbId);
    await expectLedger(
      server.db,
      done.id,
      targets.map((_, i) =>
        i === 1 ? failed("INVALID_TRANSITION") : i === 6 ? skippedNoChange : i === 8 ? failed("DELETED") : ok
      ),
    );
    expect(done).toMatchObject({ status: "COMPLETED_WITH_ERRORS", succeeded: 7, skipped: 1, failed: 2 });
  });
});

Deno.test("ROLLBACK_WINDOW_HOURS from the configuration bounds rollbackBulkOperation", async () => {
  await withServer(async (server, ids) => {
    const { agent } = server.tenant;
    const targets = ids.slice(0, 5);
    await sql`UPDATE tickets SET category = 'GENERAL' WHERE id = ANY(${targets}::bigint[])`.execute(server.db);
    const parent = await run(server, agent, {
      targets: { ids: targets.map(ticketGid) },
      action: { setCategory: { category: "ACCOUNT" } },
    });
    const parentGid = encodeId("BulkOperation", parent.id);
    const endedAgo = (minutes: number) =>
      sql`UPDATE bulk_operations SET finished_at = now() - make_interval(mins => ${minutes}) WHERE id = ${parent.id}`
        .execute(server.db);

    // Just past the configured window (2 h; the default 24 h would still allow it).
    await endedAgo(WINDOW_HOURS * 60 + 1);
    const rows = await writtenRows(server.db);
    const late = await startRollback(server, agent, parentGid);
    expect(late.bulkOperation).toBeNull();
    expect(late.userErrors).toEqual([{
      code: "ROLLBACK_WINDOW_EXPIRED",
      field: ["input", "id"],
      message: expect.stringMatching(new RegExp(`^Operations can be rolled back for ${WINDOW_HOURS} hours after`)),
    }]);
    expect(await writtenRows(server.db)).toEqual(rows);

    // Just inside it: accepted.
    await endedAgo(WINDOW_HOURS * 60 - 1);
    const inside = await startRollback(server, agent, parentGid);
    expect(inside.userErrors).toEqual([]);
    expect(inside.bulkOperation!.kind).toBe("ROLLBACK");
  });
});

Deno.test("a rollback restores the fields and moves version and updatedAt forward", async () => {
  await withServer(async (server, ids) => {
    const { agent } = server.tenant;
    const targets = ids.slice(0, 10);
    await sql`UPDATE tickets SET status = 'OPEN', priority = 'LOW' WHERE id = ANY(${targets}::bigint[])`
      .execute(server.db);
    const original = await ticketRows(server, targets);
    const parent = await run(server, agent, {
      targets: { ids: targets.map(ticketGid) },
      action: { setPriority: { priority: "URGENT" } },
    });
    expect(parent.succeeded).toBe(10);
    const changed = await ticketRows(server, targets);

    const payload = await startRollback(server, agent, encodeId("BulkOperation", parent.id));
    expect(payload.userErrors).toEqual([]);
    await runChunks(server);
    const undo = await expectConsistent(server.db, dbIdOf(payload.bulkOperation!.id));
    expect(undo).toMatchObject({ status: "COMPLETED", succeeded: 10 });
    const restored = await ticketRows(server, targets);
    for (const id of targets) {
      const [was, mid, now] = [original.get(id)!, changed.get(id)!, restored.get(id)!];
      expect(now.priority).toBe(was.priority);
      expect(now.version).toBe(mid.version + 1); // not back to was.version: a rollback is a change
      expect(mid.version).toBe(was.version + 1);
      expect(now.updated_at.getTime()).toBeGreaterThan(mid.updated_at.getTime());
    }
    // Over GraphQL too: the ticket shows the new version and updatedAt.
    const { data } = await gql(
      server.graphqlUrl,
      agent.token,
      `query($id: ID!) { ticket(id: $id) { priority version updatedAt } }`,
      { id: ticketGid(targets[0]) },
    );
    const shown = restored.get(targets[0])!;
    expect(data.ticket).toEqual({
      priority: original.get(targets[0])!.priority,
      version: shown.version,
      updatedAt: shown.updated_at.toISOString(),
    });
  });
});
