/**
 * startBulkOperation and cancelBulkOperation over HTTP: idempotency keys, a table of bad
 * inputs (each gets its typed userError, or a GraphQL validation error for what the schema
 * itself forbids, and writes nothing), role checks, and ids of missing or other-tenant
 * tickets becoming per-item NOT_FOUND outcomes instead of a request failure.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { insertTickets } from "../src/tickets/seed.ts";
import { expectConsistent, ticketStates } from "./helpers/bulk_checks.ts";
import { finished, ticketIds, waitFor } from "./helpers/bulk.ts";
import { gql } from "./helpers/graphql.ts";
import { CANCEL, dbIdOf, START, startOk, startOp, ticketGid, userGid, writtenRows } from "./helpers/api.ts";
import { startTestServer, type TestServer, type TestUser } from "./helpers/server.ts";
import { encodeId } from "../src/graphql/ids.ts";

const MAX_TARGETS = 20;

Deno.test("idempotency: same key and input replays the operation; same key, other input is IDEMPOTENCY_CONFLICT", async () => {
  await using server = await startTestServer({ tickets: 10, env: { WORKERS: "0" } });
  const ids = (await ticketIds(server.db, server.tenant.id)).map(ticketGid);
  const input = {
    targets: { ids },
    action: { setPriority: { priority: "URGENT" } },
    idempotencyKey: "nightly-escalation-42",
    description: "escalate",
  };
  const first = await startOp(server, server.tenant.agent, input);
  expect(first.userErrors).toEqual([]);
  expect(first.replayed).toBe(false);
  expect(first.bulkOperation!.idempotencyKey).toBe("nightly-escalation-42");
  const before = await writtenRows(server.db);

  const again = await startOp(server, server.tenant.agent, input);
  expect(again.userErrors).toEqual([]);
  expect(again.replayed).toBe(true);
  expect(again.bulkOperation!.id).toBe(first.bulkOperation!.id);
  expect(await writtenRows(server.db)).toEqual(before);

  const conflict = await startOp(server, server.tenant.agent, {
    ...input,
    action: { setPriority: { priority: "LOW" } },
  });
  expect(conflict.bulkOperation).toBeNull();
  expect(conflict.replayed).toBe(false);
  expect(conflict.userErrors).toEqual([
    { code: "IDEMPOTENCY_CONFLICT", field: ["input", "idempotencyKey"], message: expect.any(String) },
  ]);
  expect(await writtenRows(server.db)).toEqual(before);

  // Keys belong to their user: another user's identical request is a new operation.
  const other = await startOp(server, server.tenant.admin, input);
  expect(other.userErrors).toEqual([]);
  expect(other.replayed).toBe(false);
  expect(other.bulkOperation!.id).not.toBe(first.bulkOperation!.id);
  expect((await writtenRows(server.db)).operations).toBe(before.operations + 1);
});

interface BadCase {
  name: string;
  user: (server: TestServer) => TestUser;
  /** `ids`: 5 of the tenant's tickets; `many`: MAX_TARGETS + 1 of them. */
  input: (ctx: { server: TestServer; ids: string[]; many: string[] }) => Record<string, unknown>;
  /** The one userError expected (message not compared), or "validation" for a GraphQL error. */
  expected: { code: string; field: string[] | null } | "validation";
}

const agent = (s: TestServer) => s.tenant.agent;
const toPending = { setStatus: { status: "PENDING" } };

const BAD_INPUTS: BadCase[] = [
  {
    name: "empty ids",
    user: agent,
    input: () => ({ targets: { ids: [] }, action: toPending }),
    expected: { code: "EMPTY_TARGETS", field: ["input", "targets", "ids"] },
  },
  {
    name: `too many ids (BULK_MAX_TARGETS=${MAX_TARGETS})`,
    user: agent,
    input: ({ many }) => ({ targets: { ids: many }, action: toPending }),
    expected: { code: "TOO_MANY_TARGETS", field: ["input", "targets", "ids"] },
  },
  {
    name: "a filter matching more than BULK_MAX_TARGETS",
    user: agent,
    input: () => ({ targets: { filter: {} }, action: toPending }),
    expected: { code: "TOO_MANY_TARGETS", field: ["input", "targets"] },
  },
  {
    name: "a filter matching nothing",
    user: agent,
    input: () => ({ targets: { filter: { titleContains: "no ticket has this title" } }, action: toPending }),
    expected: { code: "EMPTY_TARGETS", field: ["input", "targets"] },
  },
  {
    name: "a malformed ticket id",
    user: agent,
    input: ({ ids }) => ({ targets: { ids: [ids[0], "not-an-id!"] }, action: toPending }),
    expected: { code: "INVALID_INPUT", field: ["input", "targets"] },
  },
  {
    name: "a Ticket id whose key is not a number",
    user: agent,
    input: ({ ids }) => ({ targets: { ids: [ids[0], encodeId("Ticket", "abc")] }, action: toPending }),
    expected: { code: "INVALID_INPUT", field: ["input", "targets"] },
  },
  {
    name: "a User id where a Ticket id is expected",
    user: agent,
    input: ({ server, ids }) => ({ targets: { ids: [ids[0], userGid(server.tenant.agent.id)] }, action: toPending }),
    expected: { code: "INVALID_INPUT", field: ["input", "targets"] },
  },
  {
    name: "assigneeId of another tenant's user",
    user: agent,
    input: ({ server, ids }) => ({
      targets: { ids },
      action: { assign: { assigneeId: userGid(server.otherTenant.agent.id) } },
    }),
    expected: { code: "INVALID_PARAMS", field: ["input", "action", "assigneeId"] },
  },
  {
    name: "assigneeId of a viewer",
    user: agent,
    input: ({ server, ids }) => ({
      targets: { ids },
      action: { assign: { assigneeId: userGid(server.tenant.viewer.id) } },
    }),
    expected: { code: "INVALID_PARAMS", field: ["input", "action", "assigneeId"] },
  },
  {
    name: "assigneeId that is a Ticket id",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: { assign: { assigneeId: ids[0] } } }),
    expected: { code: "INVALID_INPUT", field: ["input", "action"] },
  },
  {
    name: "an empty comment body",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: { addComment: { body: "" } } }),
    expected: { code: "INVALID_PARAMS", field: ["input", "action", "body"] },
  },
  {
    name: "an over-long comment body (10,001 characters)",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: { addComment: { body: "x".repeat(10_001) } } }),
    expected: { code: "INVALID_PARAMS", field: ["input", "action", "body"] },
  },
  {
    name: "an over-long description (501 characters)",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: toPending, description: "d".repeat(501) }),
    expected: { code: "INVALID_INPUT", field: ["input", "description"] },
  },
  {
    name: "an over-long idempotency key (201 characters)",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: toPending, idempotencyKey: "k".repeat(201) }),
    expected: { code: "INVALID_INPUT", field: ["input", "idempotencyKey"] },
  },
  {
    name: "an over-long delete reason (501 characters)",
    user: (s) => s.tenant.admin,
    input: ({ ids }) => ({ targets: { ids }, action: { delete: { reason: "r".repeat(501) } } }),
    // Checked by the action like every action parameter (src/tickets/actions/soft-delete.ts).
    expected: { code: "INVALID_PARAMS", field: ["input", "action", "reason"] },
  },
  {
    name: "a viewer starting an operation",
    user: (s) => s.tenant.viewer,
    input: ({ ids }) => ({ targets: { ids }, action: toPending }),
    expected: { code: "FORBIDDEN", field: null },
  },
  {
    name: "an agent deleting",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: { delete: {} } }),
    expected: { code: "FORBIDDEN", field: null },
  },
  {
    name: "an agent restoring",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: { restore: {} } }),
    expected: { code: "FORBIDDEN", field: null },
  },
  {
    name: "both ids and filter (@oneOf)",
    user: agent,
    input: ({ ids }) => ({ targets: { ids, filter: {} }, action: toPending }),
    expected: "validation",
  },
  {
    name: "neither ids nor filter (@oneOf)",
    user: agent,
    input: () => ({ targets: {}, action: toPending }),
    expected: "validation",
  },
  {
    name: "two actions (@oneOf)",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: { ...toPending, setPriority: { priority: "LOW" } } }),
    expected: "validation",
  },
  {
    name: "an unknown enum value",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: { setStatus: { status: "ARCHIVED" } } }),
    expected: "validation",
  },
  {
    name: "a missing required field (setPriority without priority)",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: { setPriority: {} } }),
    expected: "validation",
  },
  {
    name: "a malformed scheduledAt",
    user: agent,
    input: ({ ids }) => ({ targets: { ids }, action: toPending, scheduledAt: "tomorrow-ish" }),
    expected: "validation",
  },
];

Deno.test("bad inputs: each gets its typed userError (or a GraphQL validation error) and writes nothing", async (t) => {
  await using server = await startTestServer({
    tickets: 30,
    env: { WORKERS: "0", BULK_MAX_TARGETS: String(MAX_TARGETS) },
  });
  const many = (await ticketIds(server.db, server.tenant.id)).slice(0, MAX_TARGETS + 1).map(ticketGid);
  const ids = many.slice(0, 5);
  // One accepted operation first, so "nothing written" is measured against non-empty tables.
  await startOk(server, server.tenant.agent, { targets: { ids }, action: toPending });
  for (const bad of BAD_INPUTS) {
    await t.step(bad.name, async () => {
      const before = await writtenRows(server.db);
      const result = await gql(server.graphqlUrl, bad.user(server).token, START, {
        input: bad.input({ server, ids, many }),
      });
      if (bad.expected === "validation") {
        expect(result.data ?? null).toBeNull();
        expect(result.errors?.length).toBeGreaterThan(0);
        // A request error, never a masked internal one.
        expect(result.errors!.map((e) => e.extensions?.code)).not.toContain("INTERNAL_SERVER_ERROR");
        console.log(`  -> ${result.status}: ${result.errors![0].message}`);
      } else {
        expect(result.errors).toBeUndefined();
        const payload = result.data.startBulkOperation;
        expect(payload.bulkOperation).toBeNull();
        expect(payload.replayed).toBe(false);
        expect(payload.userErrors).toEqual([{ ...bad.expected, message: expect.any(String) }]);
        console.log(`  -> ${payload.userErrors[0].code}: ${payload.userErrors[0].message.slice(0, 100)}`);
      }
      expect(await writtenRows(server.db)).toEqual(before);
    });
  }
});

Deno.test("schema-level problems written as literals fail validation (no execution, nothing written)", async () => {
  await using server = await startTestServer({ tickets: 3, env: { WORKERS: "0" } });
  const id = ticketGid((await ticketIds(server.db, server.tenant.id))[0]);
  const documents = {
    "both ids and filter": `mutation { startBulkOperation(input: {
        targets: { ids: ["${id}"], filter: {} }, action: { setStatus: { status: PENDING } } }) { replayed } }`,
    "two actions": `mutation { startBulkOperation(input: {
        targets: { ids: ["${id}"] }, action: { setStatus: { status: PENDING }, delete: {} } }) { replayed } }`,
    "an unknown enum value": `mutation { startBulkOperation(input: {
        targets: { ids: ["${id}"] }, action: { setStatus: { status: ARCHIVED } } }) { replayed } }`,
    "an unknown action": `mutation { startBulkOperation(input: {
        targets: { ids: ["${id}"] }, action: { archive: {} } }) { replayed } }`,
  };
  const before = await writtenRows(server.db);
  for (const [name, document] of Object.entries(documents)) {
    const result = await gql(server.graphqlUrl, server.tenant.agent.token, document);
    expect({ name, data: result.data ?? null }).toEqual({ name, data: null });
    expect(result.errors?.length).toBeGreaterThan(0);
    expect(result.errors!.map((e) => e.extensions?.code)).not.toContain("INTERNAL_SERVER_ERROR");
    console.log(`${name} -> ${result.status}: ${result.errors![0].message}`);
  }
  expect(await writtenRows(server.db)).toEqual(before);
});

Deno.test("cancel refusals: a finished operation is ALREADY_FINISHED, another tenant's NOT_FOUND, a viewer FORBIDDEN", async () => {
  await using server = await startTestServer({ tickets: 10, env: { WORKERS: "1" } });
  const ids = (await ticketIds(server.db, server.tenant.id)).map(ticketGid);
  const op = await startOk(server, server.tenant.agent, { targets: { ids }, action: toPending });
  await waitFor(server.db, op.dbId, finished);
  const before = await writtenRows(server.db);
  const cancel = (user: TestUser, id: string) => gql(server.graphqlUrl, user.token, CANCEL, { id });

  const done = await cancel(server.tenant.agent, op.id);
  expect(done.errors).toBeUndefined();
  expect(done.data.cancelBulkOperation).toEqual({
    bulkOperation: null,
    replayed: false,
    userErrors: [{ code: "ALREADY_FINISHED", field: ["input", "id"], message: expect.any(String) }],
  });

  const foreign = await cancel(server.otherTenant.admin, op.id);
  expect(foreign.errors).toBeUndefined();
  expect(foreign.data.cancelBulkOperation.userErrors).toEqual([
    { code: "NOT_FOUND", field: ["input", "id"], message: expect.any(String) },
  ]);
  expect(foreign.data.cancelBulkOperation.bulkOperation).toBeNull();

  const viewer = await cancel(server.tenant.viewer, op.id);
  expect(viewer.data.cancelBulkOperation.userErrors).toEqual([
    { code: "FORBIDDEN", field: null, message: expect.any(String) },
  ]);

  const malformed = await cancel(server.tenant.agent, ticketGid(1));
  expect(malformed.data.cancelBulkOperation.userErrors).toEqual([
    { code: "INVALID_INPUT", field: ["input", "id"], message: expect.any(String) },
  ]);
  expect(await writtenRows(server.db)).toEqual(before);
});

Deno.test("ids of missing and other-tenant tickets become per-item NOT_FOUND outcomes, not a request failure", async () => {
  await using server = await startTestServer({ tickets: 10, env: { WORKERS: "1" } });
  const own = await ticketIds(server.db, server.tenant.id);
  await insertTickets(server.db, server.otherTenant.id, 3);
  const foreign = await ticketIds(server.db, server.otherTenant.id);
  const { rows: [{ max }] } = await sql<{ max: string }>`SELECT max(id)::text AS max FROM tickets`.execute(server.db);
  const missing = String(BigInt(max) + 1000n);
  // own[0] repeated: de-duplicated, the first occurrence keeps its position.
  const targets = [own[0], foreign[0], missing, own[1], foreign[1], own[0], own[2]];
  const before = await ticketStates(server.db, server.tenant.id);
  const payload = await startOp(server, server.tenant.agent, {
    targets: { ids: targets.map(ticketGid) },
    action: { setCategory: { category: "ACCOUNT" } },
  });
  expect(payload.userErrors).toEqual([]);
  const op = payload.bulkOperation!;
  expect(op.targets).toEqual({ kind: "IDS", requestedIds: 7 });
  expect(op.counts.total).toBe(6);
  await waitFor(server.db, dbIdOf(op.id), finished);
  await expectConsistent(server.db, dbIdOf(op.id));

  const result = await gql(
    server.graphqlUrl,
    server.tenant.agent.token,
    `query($id: ID!) { bulkOperation(id: $id) {
        status counts { total failed }
        errorSummary { code count }
        items(first: 10) { edges { node { position targetId target { id } outcome error { code } } } }
      } }`,
    { id: op.id },
  );
  expect(result.errors).toBeUndefined();
  const view = result.data.bulkOperation;
  const items = view.items.edges.map((e: { node: unknown }) => e.node);
  const expectedOrder = [own[0], foreign[0], missing, own[1], foreign[1], own[2]];
  expect(items.map((i: { targetId: string }) => i.targetId)).toEqual(expectedOrder.map(ticketGid));
  expect(items.map((i: { position: number }) => i.position)).toEqual([0, 1, 2, 3, 4, 5]);
  for (const [index, item] of items.entries()) {
    const isOwn = own.includes(expectedOrder[index]);
    if (isOwn) {
      // Judged by the action's own rules: closed tickets are read-only, same category is no change.
      const was = before.get(expectedOrder[index])!;
      const [outcome, code] = was.status === "CLOSED"
        ? ["FAILED", "FORBIDDEN"]
        : was.category === "ACCOUNT"
        ? ["SKIPPED", "NO_CHANGE"]
        : ["SUCCEEDED", null];
      expect(item).toEqual({
        position: index,
        targetId: ticketGid(expectedOrder[index]),
        target: { id: ticketGid(expectedOrder[index]) },
        outcome,
        error: code === null ? null : { code },
      });
    } else {
      // Another tenant's ticket is indistinguishable from a missing one.
      expect(item).toEqual({
        position: index,
        targetId: ticketGid(expectedOrder[index]),
        target: null,
        outcome: "FAILED",
        error: { code: "NOT_FOUND" },
      });
    }
  }
  const ownCodes = [own[0], own[1], own[2]].map((id) => before.get(id)!).map((t) =>
    t.status === "CLOSED" ? "FORBIDDEN" : t.category === "ACCOUNT" ? "NO_CHANGE" : null
  ).filter((code) => code !== null);
  const summary = Object.entries(
    [...ownCodes, "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"].reduce<Record<string, number>>(
      (n, code) => ({ ...n, [code]: (n[code] ?? 0) + 1 }),
      {},
    ),
  ).map(([code, count]) => ({ code, count }));
  expect([...view.errorSummary].sort((a, b) => a.code.localeCompare(b.code))).toEqual(
    summary.sort((a, b) => a.code.localeCompare(b.code)),
  );
  // The other tenant's tickets were not touched.
  const untouched = await server.db.selectFrom("tickets").select(["category", "version"])
    .where("tenant_id", "=", server.otherTenant.id).execute();
  expect(untouched.every((t) => t.version === 1)).toBe(true);
});
