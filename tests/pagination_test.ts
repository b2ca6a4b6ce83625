/**
 * Keyset pagination of `tickets` over real HTTP: forward (first/after) and backward
 * (last/before) walks see every ticket exactly once in order, pageInfo is right at both
 * ends, and tickets inserted while a walk is under way never shift or repeat a page.
 */
import { expect } from "expect";
import { insertTickets } from "../src/tickets/seed.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { CREATE_TICKET, ticketId, ticketIdsOf, TICKETS_PAGE } from "./helpers/tickets.ts";

interface Page {
  edges: { cursor: string; node: { id: string; title: string } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

async function page(server: TestServer, variables: Record<string, unknown>): Promise<Page> {
  const result = await gql(server.graphqlUrl, server.tenant.viewer.token, TICKETS_PAGE, variables);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data.tickets;
}

/** first/after until hasNextPage is false; `between` runs after each page. */
async function walkForward(server: TestServer, size: number, between?: () => Promise<void>) {
  const ids: string[] = [];
  const pages: Page[] = [];
  let after: string | null = null;
  for (let i = 0; i < 1000; i++) {
    const p = await page(server, { first: size, after });
    pages.push(p);
    ids.push(...p.edges.map((e) => e.node.id));
    if (!p.pageInfo.hasNextPage) break;
    after = p.pageInfo.endCursor;
    await between?.();
  }
  return { ids, pages };
}

/** last/before until hasPreviousPage is false; returns the ids in the connection's order. */
async function walkBackward(server: TestServer, size: number, between?: () => Promise<void>) {
  const ids: string[] = [];
  const pages: Page[] = [];
  let before: string | null = null;
  for (let i = 0; i < 1000; i++) {
    const p = await page(server, { last: size, before });
    pages.push(p);
    ids.unshift(...p.edges.map((e) => e.node.id));
    if (!p.pageInfo.hasPreviousPage) break;
    before = p.pageInfo.startCursor;
    await between?.();
  }
  return { ids, pages };
}

const unique = (ids: string[]) => new Set(ids).size === ids.length;

Deno.test("pagination: forward and backward walks see every ticket once, in order, with correct pageInfo", async (t) => {
  await using server = await startTestServer({ tickets: 53 });
  const expected = (await ticketIdsOf(server.db, server.tenant.id)).map(ticketId); // newest first

  await t.step("first/after", async () => {
    const { ids, pages } = await walkForward(server, 10);
    expect(ids).toEqual(expected);
    expect(pages.map((p) => p.edges.length)).toEqual([10, 10, 10, 10, 10, 3]);
    expect(pages[0].pageInfo.hasPreviousPage).toBe(false);
    expect(pages.slice(1).every((p) => p.pageInfo.hasPreviousPage)).toBe(true);
    expect(pages.slice(0, -1).every((p) => p.pageInfo.hasNextPage)).toBe(true);
    expect(pages.at(-1)!.pageInfo.hasNextPage).toBe(false);
    for (const p of pages) {
      expect(p.pageInfo.startCursor).toBe(p.edges[0].cursor);
      expect(p.pageInfo.endCursor).toBe(p.edges.at(-1)!.cursor);
    }
  });

  await t.step("last/before", async () => {
    const { ids, pages } = await walkBackward(server, 10);
    expect(ids).toEqual(expected);
    expect(pages.map((p) => p.edges.length)).toEqual([10, 10, 10, 10, 10, 3]);
    // The first backward page is the oldest ten, still shown newest first.
    expect(pages[0].edges.map((e) => e.node.id)).toEqual(expected.slice(-10));
    expect(pages[0].pageInfo.hasNextPage).toBe(false);
    expect(pages.slice(0, -1).every((p) => p.pageInfo.hasPreviousPage)).toBe(true);
    expect(pages.at(-1)!.pageInfo.hasPreviousPage).toBe(false);
  });

  await t.step("a page size that divides the total ends with an exact page, not an empty one", async () => {
    await insertTickets(server.db, server.tenant.id, 7); // 60 now
    const all = (await ticketIdsOf(server.db, server.tenant.id)).map(ticketId);
    const forward = await walkForward(server, 20);
    expect(forward.ids).toEqual(all);
    expect(forward.pages.map((p) => p.edges.length)).toEqual([20, 20, 20]);
    const backward = await walkBackward(server, 20);
    expect(backward.ids).toEqual(all);
    expect(backward.pages.map((p) => p.edges.length)).toEqual([20, 20, 20]);
  });

  await t.step("turning around: last/before from a forward page's end cursor", async () => {
    const all = (await ticketIdsOf(server.db, server.tenant.id)).map(ticketId);
    const first = await page(server, { first: 10 });
    const back = await page(server, { last: 4, before: first.pageInfo.endCursor });
    expect(back.edges.map((e) => e.node.id)).toEqual(all.slice(5, 9));
    const second = await page(server, { first: 10, after: first.pageInfo.endCursor });
    expect(second.edges.map((e) => e.node.id)).toEqual(all.slice(10, 20));
  });

  await t.step("defaults and bounds: 20 without first/last, 100 allowed, 0 returns no edges", async () => {
    expect((await page(server, {})).edges.length).toBe(20);
    expect((await page(server, { first: 100 })).edges.length).toBe(60);
    expect((await page(server, { last: 100 })).edges.length).toBe(60);
    const empty = await page(server, { first: 0 });
    expect(empty.edges).toEqual([]);
    expect(empty.pageInfo.hasNextPage).toBe(true);
  });

  await t.step("the filter holds on every page", async () => {
    const filter = { status: ["OPEN"] };
    const ids: string[] = [];
    let after: string | null = null;
    for (;;) {
      const p = await page(server, { first: 5, after, filter });
      ids.push(...p.edges.map((e) => e.node.id));
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    const open = await server.db.selectFrom("tickets").select("id").where("tenant_id", "=", server.tenant.id)
      .where("status", "=", "OPEN").orderBy("id", "desc").execute();
    expect(ids).toEqual(open.map((r) => ticketId(r.id)));
    expect(ids.length).toBeGreaterThan(5);
  });
});

Deno.test("pagination is stable under concurrent inserts: no duplicates, no gaps", async (t) => {
  await using server = await startTestServer({ tickets: 40 });
  const original = (await ticketIdsOf(server.db, server.tenant.id)).map(ticketId);
  let created = 0;
  const create = async () => {
    const result = await gql(server.graphqlUrl, server.tenant.agent.token, CREATE_TICKET, {
      input: { title: `inserted during a walk ${++created}` },
    });
    expect(result.data.createTicket.userErrors).toEqual([]);
  };

  await t.step("forward: inserts between pages change nothing in the rest of the walk", async () => {
    const { ids } = await walkForward(server, 7, async () => {
      await create();
      await insertTickets(server.db, server.tenant.id, 3);
    });
    expect(unique(ids)).toBe(true);
    expect(ids).toEqual(original);
  });

  await t.step("forward, while another client inserts in parallel", async () => {
    const snapshot = (await ticketIdsOf(server.db, server.tenant.id)).map(ticketId);
    let walking = true;
    const inserter = (async () => {
      while (walking) await create();
    })();
    try {
      const { ids } = await walkForward(server, 9);
      expect(unique(ids)).toBe(true);
      // Tickets created before the first page was read may lead it; after that, nothing moves.
      const lead = ids.length - snapshot.length;
      expect(ids.slice(lead)).toEqual(snapshot);
      // (None may lead: the first page can be read before the inserter's first commit; `in ()` is no SQL.)
      const leading = ids.slice(0, lead).map((gid) => atob(gid).split(":")[1]);
      const titles = leading.length === 0
        ? []
        : await server.db.selectFrom("tickets").select("title").where("id", "in", leading as never[]).execute();
      expect(titles.every((r) => r.title.startsWith("inserted during a walk"))).toBe(true);
    } finally {
      walking = false;
      await inserter;
    }
    expect(created).toBeGreaterThan(5);
  });

  await t.step("backward: every earlier ticket once, in order; the new ones only at the newest end", async () => {
    const snapshot = (await ticketIdsOf(server.db, server.tenant.id)).map(ticketId);
    const { ids } = await walkBackward(server, 8, create);
    expect(unique(ids)).toBe(true);
    const fresh = ids.length - snapshot.length;
    expect(fresh).toBeGreaterThan(0);
    expect(ids.slice(fresh)).toEqual(snapshot);
    // Nothing was inserted after the last page, so the walk ends with exactly today's list.
    expect(ids).toEqual((await ticketIdsOf(server.db, server.tenant.id)).map(ticketId));
  });
});
