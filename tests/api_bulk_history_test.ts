/**
 * The history: bulkOperations newest first with every filter, keyset pagination both ways
 * (no duplicates, no gaps, ties on created_at broken by id), and an operation's events
 * connection (the audit trail) with its actors.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { finished, ticketIds, waitFor } from "./helpers/bulk.ts";
import { gql } from "./helpers/graphql.ts";
import { CANCEL, dbIdOf, RETRY, startOk, ticketGid, userGid } from "./helpers/api.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

const HISTORY = `query History($first: Int, $after: String, $last: Int, $before: String, $filter: BulkOperationFilter) {
  bulkOperations(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    edges { cursor node { id status kind actionType createdAt createdBy { id } parent { id } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

interface HistoryNode {
  id: string;
  status: string;
  kind: string;
  actionType: string;
  createdAt: string;
  createdBy: { id: string } | null;
  parent: { id: string } | null;
}

interface Page {
  edges: { cursor: string; node: HistoryNode }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

async function history(server: TestServer, variables: Record<string, unknown>): Promise<Page> {
  const result = await gql(server.graphqlUrl, server.tenant.viewer.token, HISTORY, variables);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data.bulkOperations;
}

/** Walks every page forward with `first: size`; checks the page flags on the way. */
async function walkForward(server: TestServer, size: number, filter?: Record<string, unknown>): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (let pages = 0;; pages++) {
    const page: Page = await history(server, { first: size, after, filter });
    expect(page.edges.length).toBeLessThanOrEqual(size);
    expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
    ids.push(...page.edges.map((e) => e.node.id));
    if (!page.pageInfo.hasNextPage) break;
    expect(page.edges.length).toBe(size);
    after = page.pageInfo.endCursor;
    if (pages > 100) throw new Error("runaway pagination");
  }
  return ids;
}

/** Walks every page backward from the end with `last: size`; returns the ids newest first. */
async function walkBackward(server: TestServer, size: number, filter?: Record<string, unknown>): Promise<string[]> {
  const pages: string[][] = [];
  let before: string | null = null;
  for (let n = 0;; n++) {
    const page: Page = await history(server, { last: size, before, filter });
    expect(page.edges.length).toBeLessThanOrEqual(size);
    expect(page.pageInfo.hasNextPage).toBe(before !== null);
    pages.unshift(page.edges.map((e) => e.node.id));
    if (!page.pageInfo.hasPreviousPage) break;
    expect(page.edges.length).toBe(size);
    before = page.pageInfo.startCursor;
    if (n > 100) throw new Error("runaway pagination");
  }
  return pages.flat();
}

Deno.test("bulkOperations: newest first, every filter, keyset pagination both ways; the events connection", async (t) => {
  await using server = await startTestServer({ tickets: 20, env: { WORKERS: "1", BULK_MAX_ACTIVE_PER_USER: "50" } });
  const { tenant } = server;
  const ids = (await ticketIds(server.db, tenant.id)).map(ticketGid);
  const run = async (user: typeof tenant.agent, action: Record<string, unknown>, extra = {}) => {
    const op = await startOk(server, user, { targets: { ids: ids.slice(0, 10) }, action, ...extra });
    if (!("scheduledAt" in extra)) await waitFor(server.db, op.dbId, finished);
    return op;
  };
  // Nine operations: three action types, two creators, every status we can reach, one RETRY.
  const ops = [
    await run(tenant.agent, { setStatus: { status: "PENDING" } }),
    await run(tenant.agent, { setPriority: { priority: "HIGH" } }),
    await run(tenant.admin, { setPriority: { priority: "LOW" } }),
    await run(tenant.admin, { setCategory: { category: "BILLING" } }),
    await run(tenant.agent, { setCategory: { category: "ACCOUNT" } }),
    await run(tenant.admin, { setStatus: { status: "OPEN" } }),
    await run(tenant.agent, { setPriority: { priority: "URGENT" } }, { scheduledAt: "2099-01-01T00:00:00Z" }),
    await run(tenant.admin, { setPriority: { priority: "NORMAL" } }, { scheduledAt: "2099-01-01T00:00:00Z" }),
  ];
  // ops[1] failed the closed tickets (FORBIDDEN): retry them (a RETRY child of ops[1]).
  const retried = await gql(
    server.graphqlUrl,
    tenant.agent.token,
    RETRY,
    { id: ops[1].id },
  );
  expect(retried.data.retryFailedItems.userErrors).toEqual([]);
  const retry = retried.data.retryFailedItems.bulkOperation.id as string;
  await waitFor(server.db, dbIdOf(retry), finished);
  const cancelled = await gql(server.graphqlUrl, tenant.admin.token, CANCEL, { id: ops[7].id });
  expect(cancelled.data.cancelBulkOperation.bulkOperation.status).toBe("CANCELLED");
  // Another tenant's operation never shows up.
  await startOk(server, server.otherTenant.agent, {
    targets: { ids: ids.slice(0, 1) },
    action: { setStatus: { status: "OPEN" } },
  });

  // Known creation times, one minute apart in creation order; ops[3] and ops[4] share one
  // timestamp so the id breaks the tie.
  const all = [...ops.map((o) => o.id), retry];
  const base = Date.parse("2026-03-01T10:00:00Z");
  const times = all.map((_, i) => new Date(base + (i === 4 ? 3 : i) * 60_000));
  for (const [i, id] of all.entries()) {
    await sql`UPDATE bulk_operations SET created_at = ${times[i]} WHERE id = ${dbIdOf(id)}`.execute(server.db);
  }
  const tie = [all[3], all[4]].sort((a, b) => (dbIdOf(a) < dbIdOf(b) ? 1 : -1)); // id DESC
  const newestFirst = [all[8], all[7], all[6], all[5], ...tie, all[2], all[1], all[0]];

  await t.step("newest first, forward and backward walks agree at every page size", async () => {
    const first = await history(server, { first: 100 });
    expect(first.edges.map((e) => e.node.id)).toEqual(newestFirst);
    expect(first.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: false });
    for (const size of [1, 2, 3, 4]) {
      expect(await walkForward(server, size)).toEqual(newestFirst);
      expect(await walkBackward(server, size)).toEqual(newestFirst);
    }
    // `before` a cursor with `last`: the page just before it.
    const third = (await history(server, { first: 3 })).edges[2].cursor;
    const prior = await history(server, { last: 2, before: third });
    expect(prior.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(0, 2));
    expect(prior.pageInfo).toMatchObject({ hasPreviousPage: false, hasNextPage: true });
  });

  const expectFilter = async (filter: Record<string, unknown>, expected: string[]) => {
    expect(await walkForward(server, 2, filter)).toEqual(expected);
    expect(await walkBackward(server, 2, filter)).toEqual(expected);
  };
  const only = (...indexes: number[]) => newestFirst.filter((id) => indexes.some((i) => all[i] === id));

  await t.step("filters: status, actionType, kind, createdBy, createdAfter/createdBefore, combined", async () => {
    await expectFilter({ status: ["CANCELLED"] }, only(7));
    await expectFilter({ status: ["SCHEDULED"] }, only(6));
    await expectFilter({ status: ["SCHEDULED", "CANCELLED"] }, only(6, 7));
    await expectFilter({ actionType: ["SET_PRIORITY"] }, only(1, 2, 6, 7, 8));
    await expectFilter({ actionType: ["SET_CATEGORY", "SET_STATUS"] }, only(0, 3, 4, 5));
    await expectFilter({ kind: ["RETRY"] }, only(8));
    await expectFilter({ kind: ["STANDARD"] }, only(0, 1, 2, 3, 4, 5, 6, 7));
    await expectFilter({ kind: ["ROLLBACK"] }, []);
    await expectFilter({ createdBy: userGid(tenant.admin.id) }, only(2, 3, 5, 7));
    await expectFilter({ createdBy: userGid(tenant.viewer.id) }, []);
    // createdAfter is inclusive, createdBefore exclusive.
    await expectFilter(
      { createdAfter: times[3].toISOString(), createdBefore: times[6].toISOString() },
      only(3, 4, 5),
    );
    await expectFilter({ createdAfter: times[8].toISOString() }, only(8));
    await expectFilter({ createdBefore: times[0].toISOString() }, []);
    await expectFilter(
      { actionType: ["SET_PRIORITY"], createdBy: userGid(tenant.agent.id), status: ["COMPLETED_WITH_ERRORS"] },
      only(1),
    );
    const page = await history(server, { first: 100, filter: { kind: ["RETRY"] } });
    expect(page.edges[0].node).toMatchObject({ kind: "RETRY", parent: { id: ops[1].id } });
  });

  await t.step("bad arguments are errors, not empty pages", async () => {
    for (
      const variables of [
        { first: 101 },
        { first: -1 },
        { first: 2, last: 2 },
        { first: 2, after: "garbage" },
        { filter: { createdBy: ticketGid(1) } },
      ]
    ) {
      const result = await gql(server.graphqlUrl, tenant.viewer.token, HISTORY, variables);
      expect(result.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    }
  });

  await t.step("events: the audit trail, oldest first, with actors, paginated both ways", async () => {
    const EVENTS = `query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
        bulkOperation(id: $id) {
          events(first: $first, after: $after, last: $last, before: $before) {
            edges { cursor node { id type actor { id } data createdAt } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          }
        }
      }`;
    const events = async (id: string, args: Record<string, unknown>) => {
      const result = await gql(server.graphqlUrl, tenant.viewer.token, EVENTS, { id, ...args });
      if (result.errors) throw new Error(JSON.stringify(result.errors));
      return result.data.bulkOperation.events;
    };
    const completed = await events(ops[0].id, { first: 100 });
    expect(completed.edges.map((e: { node: { type: string } }) => e.node.type)).toEqual([
      "CREATED",
      "STARTED",
      "FINISHED",
    ]);
    expect(completed.edges[0].node.actor).toEqual({ id: userGid(tenant.agent.id) });
    expect(completed.edges[0].node.data).toMatchObject({ total: 10, actionType: "SET_STATUS" });
    expect(completed.edges[2].node.data).toMatchObject({ status: expect.any(String), succeeded: expect.any(Number) });

    const cancelledEvents = await events(ops[7].id, { first: 100 });
    expect(cancelledEvents.edges.map((e: { node: { type: string } }) => e.node)).toEqual([
      expect.objectContaining({ type: "CREATED", actor: { id: userGid(tenant.admin.id) } }),
      expect.objectContaining({ type: "CANCEL_REQUESTED", actor: { id: userGid(tenant.admin.id) } }),
      expect.objectContaining({ type: "CANCELLED", actor: null }),
    ]);

    // One at a time forward, then backward: the same three, no duplicates.
    const forward: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await events(ops[7].id, { first: 1, after });
      forward.push(...page.edges.map((e: { node: { type: string } }) => e.node.type));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(forward).toEqual(["CREATED", "CANCEL_REQUESTED", "CANCELLED"]);
    const backward: string[] = [];
    let before: string | null = null;
    for (;;) {
      const page = await events(ops[7].id, { last: 1, before });
      backward.unshift(...page.edges.map((e: { node: { type: string } }) => e.node.type));
      if (!page.pageInfo.hasPreviousPage) break;
      before = page.pageInfo.startCursor;
    }
    expect(backward).toEqual(forward);
  });
});
