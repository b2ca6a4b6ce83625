/**
 * The connections keyed on (created_at, id), bulkOperations and webhookEndpoints, walked through the real
 * GraphQL API over rows created within one millisecond: PostgreSQL keeps microseconds, so a cursor that
 * held created_at as a JS Date (milliseconds) sought from a truncated value and `before` returned the next
 * page's first row again, `after` skipped rows. Every row must come exactly once, in order, both ways.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { encodeCursor, encodeId } from "../src/graphql/ids.ts";
import { operationGid, startOk } from "./helpers/api.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

/** Same millisecond (…123xxx), both sides of it, and a tie broken by the id. */
const CREATED_AT = [
  "2026-03-01T10:00:00.122999Z",
  "2026-03-01T10:00:00.123000Z",
  "2026-03-01T10:00:00.123001Z",
  "2026-03-01T10:00:00.123456Z",
  "2026-03-01T10:00:00.123456Z",
  "2026-03-01T10:00:00.123457Z",
  "2026-03-01T10:00:00.123999Z",
  "2026-03-01T10:00:00.124000Z",
];

interface Page {
  edges: { cursor: string; node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

type Fetch = (variables: Record<string, unknown>) => Promise<Page>;

function connection(server: TestServer, token: string, field: string): Fetch {
  const query = `query($first: Int, $after: String, $last: Int, $before: String) {
    ${field}(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node { id } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    } }`;
  return async (variables) => {
    const result = await gql(server.graphqlUrl, token, query, variables);
    if (result.errors) throw new Error(`${field} ${JSON.stringify(variables)}: ${JSON.stringify(result.errors)}`);
    return result.data[field];
  };
}

/** The ids of a whole walk with pages of `size`, in the connection's order, page by page. */
async function walk(fetch: Fetch, size: number, direction: "forward" | "backward"): Promise<string[]> {
  const pages: string[][] = [];
  let cursor: string | null = null;
  for (let n = 0; n < 100; n++) {
    const page: Page = await fetch(
      direction === "forward" ? { first: size, after: cursor } : { last: size, before: cursor },
    );
    const ids = page.edges.map((edge) => edge.node.id);
    if (direction === "forward") pages.push(ids);
    else pages.unshift(ids);
    const more = direction === "forward" ? page.pageInfo.hasNextPage : page.pageInfo.hasPreviousPage;
    if (!more) return pages.flat();
    cursor = direction === "forward" ? page.pageInfo.endCursor : page.pageInfo.startCursor;
  }
  throw new Error(`a ${direction} walk of pages of ${size} did not end within 100 pages`);
}

/** Every page size from 1 to all the rows, forward and backward, gives exactly `expected`. */
async function expectWalks(fetch: Fetch, expected: string[]): Promise<void> {
  for (let size = 1; size <= expected.length; size++) {
    for (const direction of ["forward", "backward"] as const) {
      expect({ size, direction, ids: await walk(fetch, size, direction) }).toEqual({ size, direction, ids: expected });
    }
  }
}

/** A cursor of the old format (milliseconds, from toISOString) is BAD_USER_INPUT, not half-honoured. */
async function expectOldCursorRefused(server: TestServer, token: string, field: string, id: string) {
  const old = encodeCursor(["2026-03-01T10:00:00.123Z", id]);
  const refused = await gql(
    server.graphqlUrl,
    token,
    `query($after: String) { ${field}(first: 2, after: $after) { edges { cursor } } }`,
    { after: old },
  );
  expect(refused.errors?.length).toBe(1);
  expect(refused.errors?.[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "after" });
}

/** Rows sorted by (created_at, id), both ascending: PostgreSQL orders uuids as their lowercase hex text. */
function ascending(rows: { id: string; createdAt: string }[]): { id: string; createdAt: string }[] {
  const key = (row: { id: string; createdAt: string }) => `${row.createdAt} ${row.id}`;
  return [...rows].sort((a, b) => key(a) < key(b) ? -1 : 1);
}

Deno.test("bulkOperations: operations created within one millisecond, each once, in order, both ways", async () => {
  await using server = await startTestServer({ tickets: 1 });
  const made = await startOk(server, server.tenant.agent, {
    targets: { filter: {} },
    action: { setPriority: { priority: "HIGH" } },
    scheduledAt: "2099-01-01T00:00:00Z",
  });
  // Copies of the started operation (as in tests/start_caps_test.ts), one per CREATED_AT value.
  const rows = [];
  for (const createdAt of CREATED_AT) {
    const { rows: [copy] } = await sql<{ id: string }>`INSERT INTO bulk_operations
        SELECT (jsonb_populate_record(NULL::bulk_operations, to_jsonb(o) || jsonb_build_object(
          'id', gen_random_uuid(), 'status', 'COMPLETED', 'created_at', ${createdAt}::timestamptz))).*
        FROM bulk_operations o WHERE o.id = ${made.dbId} RETURNING id`.execute(server.db);
    rows.push({ id: copy.id, createdAt });
  }
  await sql`DELETE FROM bulk_operations WHERE id = ${made.dbId}`.execute(server.db);
  const newestFirst = ascending(rows).reverse().map((row) => operationGid(row.id));
  const history = connection(server, server.tenant.viewer.token, "bulkOperations");
  expect((await history({ first: 100 })).edges.map((edge) => edge.node.id)).toEqual(newestFirst);
  await expectWalks(history, newestFirst);

  await expectOldCursorRefused(server, server.tenant.viewer.token, "bulkOperations", rows[0].id);
});

// webhook_endpoints.created_at is timestamptz(3) (migrations/0010), so its millisecond cursors were exact; the
// cursor now has the one microsecond format of every timestamp keyset: endpoints that share a millisecond
// (ties broken by the id) still come once each, and a millisecond cursor is refused.
Deno.test("webhookEndpoints: endpoints sharing a millisecond, each once, in order, both ways", async () => {
  await using server = await startTestServer({ tickets: 0 });
  for (const createdAt of CREATED_AT) {
    await server.db.insertInto("webhook_endpoints").values({
      tenant_id: server.tenant.id,
      created_by: server.tenant.admin.id,
      url: "https://hooks.example.com/bulk",
      events: ["bulk_operation.finished"],
      // Never decrypted: listing endpoints reads no secret.
      secret_ciphertext: new Uint8Array(44),
      created_at: createdAt,
    }).execute();
  }
  // The column rounds to milliseconds: the order is the stored values', ties broken by the id.
  const stored = await server.db.selectFrom("webhook_endpoints").select("id").where("tenant_id", "=", server.tenant.id)
    .orderBy("created_at").orderBy("id").execute();
  expect(new Set(stored.map((row) => row.id)).size).toBe(CREATED_AT.length);
  const oldestFirst = stored.map((row) => encodeId("WebhookEndpoint", row.id));
  const endpoints = connection(server, server.tenant.admin.token, "webhookEndpoints");
  expect((await endpoints({ first: 100 })).edges.map((edge) => edge.node.id)).toEqual(oldestFirst);
  await expectWalks(endpoints, oldestFirst);
  await expectOldCursorRefused(server, server.tenant.admin.token, "webhookEndpoints", stored[0].id);
});
