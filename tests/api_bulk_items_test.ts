/**
 * The item ledger of a large operation (30,050 items) through the API: the items
 * connection walked forward and backward 100 at a time (every position, in order, equal to
 * the database), filtered by outcome and error code, page timings at several depths
 * (printed, not asserted), and the JSONL and CSV downloads equal to the ledger.
 */
import type { ItemRow } from "../src/bulk/history.ts";
import { expect } from "expect";
import { sql } from "kysely";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { finished, ticketIds, waitFor } from "./helpers/bulk.ts";
import { gql } from "./helpers/graphql.ts";
import { startOk, ticketGid } from "./helpers/api.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { encodeCursor } from "../src/graphql/ids.ts";

const TICKETS = 30_000;
const MISSING = 50;

const ITEMS =
  `query Items($id: ID!, $first: Int, $after: String, $last: Int, $before: String, $filter: BulkItemFilter) {
  bulkOperation(id: $id) {
    items(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
      edges { cursor node { position targetId outcome error { code } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}`;

interface Item {
  position: number;
  targetId: string;
  outcome: string;
  error: { code: string } | null;
}

interface ItemsPage {
  edges: { cursor: string; node: Item }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** A ledger row as the API reads it (src/bulk/history.ts). */
type LedgerRow = Omit<ItemRow, "operation_id">;

async function page(server: TestServer, variables: Record<string, unknown>): Promise<ItemsPage> {
  const result = await gql(server.graphqlUrl, server.tenant.viewer.token, ITEMS, variables);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data.bulkOperation.items;
}

async function walk(
  server: TestServer,
  id: string,
  direction: "forward" | "backward",
  filter?: Record<string, unknown>,
): Promise<{ items: Item[]; pages: number }> {
  const pages: Item[][] = [];
  let cursor: string | null = null;
  for (;;) {
    const p: ItemsPage = await page(
      server,
      direction === "forward" ? { id, first: 100, after: cursor, filter } : { id, last: 100, before: cursor, filter },
    );
    const nodes = p.edges.map((e) => e.node);
    if (direction === "forward") pages.push(nodes);
    else pages.unshift(nodes);
    const more = direction === "forward" ? p.pageInfo.hasNextPage : p.pageInfo.hasPreviousPage;
    if (!more) break;
    expect(nodes.length).toBe(100);
    cursor = direction === "forward" ? p.pageInfo.endCursor : p.pageInfo.startCursor;
    if (pages.length > 1000) throw new Error("runaway pagination");
  }
  return { items: pages.flat(), pages: pages.length };
}

const asItem = (row: LedgerRow): Item => ({
  position: row.position,
  targetId: ticketGid(row.target_id),
  outcome: row.outcome,
  error: row.error_code ? { code: row.error_code } : null,
});

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** RFC 4180: quoted fields may hold commas, doubled quotes and newlines. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) rows.push([...row, field]);
  return rows;
}

Deno.test("items of a 30,050-item operation: pagination both ways, filters, deep pages, downloads", async (t) => {
  await using server = await startTestServer({
    tickets: TICKETS,
    // Walks 30,050 items both ways as fast as it can (~100 pages/s, ~20,000 cost points/s): that is what the
    // per-token cost bucket exists to slow down (cost_throttle_test.ts), so this walk gets a bucket it cannot empty.
    env: { WORKERS: "2", BULK_CHUNK_SIZE: "2000", GRAPHQL_COST_RESTORE_RATE: "1000000" },
  });
  const own = await ticketIds(server.db, server.tenant.id);
  const { rows: [{ max }] } = await sql<{ max: string }>`SELECT max(id)::text AS max FROM tickets`.execute(server.db);
  // Missing ids spread through the list: per-item NOT_FOUND.
  const targets = [...own];
  for (let i = 0; i < MISSING; i++) targets.splice(i * 600 + 7, 0, String(BigInt(max) + 1000n + BigInt(i)));
  const started = performance.now();
  const op = await startOk(server, server.tenant.agent, {
    targets: { ids: targets.map(ticketGid) },
    action: { setPriority: { priority: "HIGH" } },
  });
  console.log(`startBulkOperation with ${targets.length} ids: ${(performance.now() - started).toFixed(0)} ms`);
  await waitFor(server.db, op.dbId, finished, 120_000);
  const row = await expectConsistent(server.db, op.dbId);
  expect(row.total).toBe(TICKETS + MISSING);
  const { rows: ledger } = await sql<LedgerRow>`
      SELECT position, target_id::text AS target_id, outcome, error_code, error_message, before, after, attempts,
             processed_at
      FROM bulk_operation_items WHERE operation_id = ${op.dbId} ORDER BY position`.execute(server.db);
  expect(ledger.map((r) => r.target_id)).toEqual(targets);
  const expected = ledger.map(asItem);

  await t.step("forward, 100 at a time: every position once, in order, equal to the ledger", async () => {
    const t0 = performance.now();
    const { items, pages } = await walk(server, op.id, "forward");
    console.log(`  forward walk: ${pages} pages in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(items.map((i) => i.position)).toEqual(expected.map((_, i) => i));
    expect(items).toEqual(expected);
  });

  await t.step("backward with last/before: the same items", async () => {
    const t0 = performance.now();
    const { items, pages } = await walk(server, op.id, "backward");
    console.log(`  backward walk: ${pages} pages in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(items).toEqual(expected);
  });

  await t.step("filters: outcome, errorCode, both; forward and backward", async () => {
    const filters: [Record<string, unknown>, (i: Item) => boolean][] = [
      [{ outcome: ["FAILED"] }, (i) => i.outcome === "FAILED"],
      [{ outcome: ["SKIPPED", "SUCCEEDED"] }, (i) => i.outcome === "SKIPPED" || i.outcome === "SUCCEEDED"],
      [{ errorCode: ["NOT_FOUND"] }, (i) => i.error?.code === "NOT_FOUND"],
      [{ errorCode: ["FORBIDDEN", "NO_CHANGE"] }, (i) => ["FORBIDDEN", "NO_CHANGE"].includes(i.error?.code ?? "")],
      [{ outcome: ["FAILED"], errorCode: ["NOT_FOUND"] }, (i) => i.error?.code === "NOT_FOUND"],
      [{ outcome: ["SUCCEEDED"], errorCode: ["NOT_FOUND"] }, () => false],
    ];
    for (const [filter, keep] of filters) {
      const want = expected.filter(keep);
      const forward = await walk(server, op.id, "forward", filter);
      expect({ filter, items: forward.items }).toEqual({ filter, items: want });
      const backward = await walk(server, op.id, "backward", filter);
      expect({ filter, items: backward.items }).toEqual({ filter, items: want });
      console.log(`  ${JSON.stringify(filter)}: ${want.length} items`);
    }
    expect(expected.filter((i) => i.error?.code === "NOT_FOUND").length).toBe(MISSING);
    expect(expected.filter((i) => i.error?.code === "FORBIDDEN").length).toBe(TICKETS / 5);
  });

  await t.step("spot checks: a page from any cursor; target resolves to the ticket", async () => {
    const deep = await gql(
      server.graphqlUrl,
      server.tenant.viewer.token,
      `query($id: ID!, $after: String) { bulkOperation(id: $id) {
          items(first: 3, after: $after) { edges { node { position target { id } } } pageInfo { hasNextPage } }
        } }`,
      { id: op.id, after: encodeCursor([20_000]) },
    );
    expect(deep.errors).toBeUndefined();
    const nodes = deep.data.bulkOperation.items.edges.map((e: { node: unknown }) => e.node);
    expect(nodes).toEqual([20_001, 20_002, 20_003].map((position) => ({
      position,
      target: ledger[position].error_code === "NOT_FOUND" ? null : { id: ticketGid(ledger[position].target_id) },
    })));
    const last = await page(server, { id: op.id, after: encodeCursor([TICKETS + MISSING - 2]), first: 100 });
    expect(last.edges.map((e) => e.node.position)).toEqual([TICKETS + MISSING - 1]);
    expect(last.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
  });

  await t.step("page timings: page 1, page 2, the middle, deep, backward (printed, not asserted)", async () => {
    const time = async (variables: Record<string, unknown>) => {
      const samples: number[] = [];
      for (let i = 0; i < 9; i++) {
        const t0 = performance.now();
        const p = await page(server, { id: op.id, ...variables });
        samples.push(performance.now() - t0);
        expect(p.edges.length).toBe(100);
      }
      return median(samples).toFixed(1);
    };
    const report = async (label: string) => {
      console.log(
        `  ${label}: median of 9 over HTTP, first:100 page 1 ${await time({ first: 100 })} ms, ` +
          `after 100 ${await time({ first: 100, after: encodeCursor([100]) })} ms, ` +
          `after 15,000 ${await time({ first: 100, after: encodeCursor([15_000]) })} ms, ` +
          `after 29,800 ${await time({ first: 100, after: encodeCursor([29_800]) })} ms; ` +
          `last:100 before 29,900 ${await time({ last: 100, before: encodeCursor([29_900]) })} ms; ` +
          `FAILED after 100 ${await time({
            first: 100,
            after: encodeCursor([100]),
            filter: { outcome: ["FAILED"] },
          })} ms`,
      );
    };
    // Right after the operation ran, the planner's statistics predate its items; then as
    // they are once autovacuum (here: ANALYZE) has seen them.
    await report("statistics older than the items");
    await sql`ANALYZE bulk_operation_items`.execute(server.db);
    await report("after ANALYZE bulk_operation_items");
  });

  const auth = { authorization: `Bearer ${server.tenant.viewer.token}` };
  /** A ledger row as the downloads show it. */
  const downloadRecord = (l: typeof ledger[number]) => ({
    position: l.position,
    targetId: ticketGid(l.target_id),
    outcome: l.outcome,
    errorCode: l.error_code,
    errorMessage: l.error_message,
    before: l.before ?? null,
    after: l.after ?? null,
    attempts: l.attempts,
    processedAt: l.processed_at ? new Date(l.processed_at).toISOString() : null,
  });

  await t.step("JSONL download: one line per item, equal to the ledger", async () => {
    const response = await fetch(`${server.url}/bulk-operations/${op.id}/items.jsonl`, { headers: auth });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    expect(response.headers.get("content-disposition")).toContain(`bulk-operation-${op.dbId}-items.jsonl`);
    const text = await response.text();
    expect(text.endsWith("\n")).toBe(true);
    const lines = text.slice(0, -1).split("\n");
    expect(lines.length).toBe(row.total);
    const records = lines.map((line) => JSON.parse(line));
    expect(records.map((r) => ({
      position: r.position,
      targetId: r.targetId,
      outcome: r.outcome,
      errorCode: r.errorCode,
      errorMessage: r.errorMessage,
      before: r.before,
      after: r.after,
      attempts: r.attempts,
      processedAt: r.processedAt,
    }))).toEqual(ledger.map(downloadRecord));
  });

  await t.step("CSV download: the header and one row per item, equal to the ledger", async () => {
    // The operation's global id works in the path as well as the uuid.
    const response = await fetch(`${server.url}/bulk-operations/${op.id}/items.csv`, { headers: auth });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const rows = parseCsv(await response.text());
    expect(rows[0]).toEqual([
      "position",
      "targetId",
      "outcome",
      "errorCode",
      "errorMessage",
      "before",
      "after",
      "attempts",
      "processedAt",
    ]);
    expect(rows.length).toBe(row.total + 1);
    const body = rows.slice(1).map((r) => ({
      position: Number(r[0]),
      targetId: r[1],
      outcome: r[2],
      errorCode: r[3] || null,
      errorMessage: r[4] || null,
      before: r[5] ? JSON.parse(r[5]) : null,
      after: r[6] ? JSON.parse(r[6]) : null,
      attempts: Number(r[7]),
    }));
    expect(body).toEqual(ledger.map(downloadRecord).map(({ processedAt: _, ...record }) => record));
    // The uuid form of the path gives the same bytes.
    const byUuid = await fetch(`${server.url}/bulk-operations/${op.dbId}/items.csv`, { headers: auth });
    expect(parseCsv(await byUuid.text())).toEqual(rows);
  });

  await t.step("?outcome=FAILED: only the failed rows, across every page; an unknown outcome is a 400", async () => {
    const failed = ledger.filter((l) => l.outcome === "FAILED");
    expect(failed.length).toBeGreaterThan(5000); // spread over every 5,000-item page of the download
    const response = await fetch(`${server.url}/bulk-operations/${op.id}/items.jsonl?outcome=FAILED`, {
      headers: auth,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-disposition")).toContain("-failed.jsonl");
    const lines = (await response.text()).trimEnd().split("\n").map((line) => JSON.parse(line));
    expect(lines.map((l) => [l.position, l.outcome, l.errorCode])).toEqual(
      failed.map((l) => [l.position, "FAILED", l.error_code]),
    );
    const two = await fetch(`${server.url}/bulk-operations/${op.id}/items.csv?outcome=FAILED,SUCCEEDED`, {
      headers: auth,
    });
    expect(parseCsv(await two.text()).length).toBe(
      1 + ledger.filter((l) => l.outcome === "FAILED" || l.outcome === "SUCCEEDED").length,
    );
    const bad = await fetch(`${server.url}/bulk-operations/${op.id}/items.csv?outcome=BROKEN`, { headers: auth });
    expect([bad.status, await bad.json()]).toEqual([400, {
      error: 'Unknown outcome "BROKEN": use PENDING, SUCCEEDED, FAILED, SKIPPED, CANCELLED.',
    }]);
  });
});
