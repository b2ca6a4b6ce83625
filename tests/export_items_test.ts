/**
 * The compact ledger (migrations/0017) of an export seen through every read of the ledger: an
 * export by ids with missing ids spread through it (alone, in pairs, at chunk boundaries) stores its
 * SUCCEEDED items as runs (bulk_item_runs) and only its NOT_FOUND ones as rows; half-way through
 * (chunks run by hand) the items connection, walked both ways with pages that cross chunk and run
 * boundaries, under every outcome and code filter, shows rows, runs and PENDING items exactly as the
 * positions say; at the end the counters, errorSummary, the items downloads and the ledger view agree,
 * and retention deletes the runs, counted as their items.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { purgeExpired } from "../src/bulk/retention.ts";
import { finished, runChunks, ticketIds, waitFor } from "./helpers/bulk.ts";
import { ticketGid } from "./helpers/api.ts";
import { startExport, uuidOf } from "./helpers/exports.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

const TICKETS = 150;
const CHUNK = 40;

const ITEMS =
  `query Items($id: ID!, $first: Int, $after: String, $last: Int, $before: String, $filter: BulkItemFilter) {
  bulkOperation(id: $id) {
    counts { total succeeded failed pending }
    errorSummary { code count }
    items(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
      edges { node { position targetId outcome error { code message } attempts } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}`;

interface Item {
  position: number;
  targetId: string;
  outcome: string;
  error: { code: string; message: string } | null;
  attempts: number;
}

async function query(server: TestServer, variables: Record<string, unknown>) {
  const result = await gql(server.graphqlUrl, server.tenant.viewer.token, ITEMS, variables);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data.bulkOperation;
}

/** Every item the connection gives under `filter`, `size` per page, in input order. */
async function walk(server: TestServer, id: string, direction: "forward" | "backward", size: number, filter = {}) {
  const pages: Item[][] = [];
  let cursor: string | null = null;
  for (let n = 0; n < 1000; n++) {
    const { items } = await query(
      server,
      direction === "forward" ? { id, first: size, after: cursor, filter } : { id, last: size, before: cursor, filter },
    );
    const nodes = items.edges.map((e: { node: Item }) => e.node);
    if (direction === "forward") pages.push(nodes);
    else pages.unshift(nodes);
    const more = direction === "forward" ? items.pageInfo.hasNextPage : items.pageInfo.hasPreviousPage;
    if (!more) return pages.flat();
    expect(nodes.length).toBe(size);
    cursor = direction === "forward" ? items.pageInfo.endCursor : items.pageInfo.startCursor;
  }
  throw new Error("runaway pagination");
}

Deno.test("export: the compact ledger reads as one row per item (pages, filters, counters, downloads, retention)", async () => {
  await using server = await startTestServer({
    tickets: TICKETS,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: "7", BULK_EXPORT_CHUNK_SIZE: String(CHUNK) },
  });
  const { db, tenant } = server;
  const own = await ticketIds(db, tenant.id);
  const { rows: [{ max }] } = await sql<{ max: string }>`SELECT max(id)::text AS max FROM tickets`.execute(db);
  // Missing ids at positions 0, 20-21 (a pair), 39 and 40 (either side of the first chunk boundary), 100, the last.
  const missingAt = new Set([0, 20, 21, 39, 40, 100, TICKETS + 6]);
  const targets: string[] = [];
  for (let position = 0, k = 0, m = 0; position < TICKETS + missingAt.size; position++) {
    targets.push(missingAt.has(position) ? String(BigInt(max) + 1000n + BigInt(m++)) : own[k++]);
  }
  const id = await startExport(server, tenant.agent.token, { targets: { ids: targets.map(ticketGid) }, format: "CSV" });
  const operationId = uuidOf(id);
  const chunks = Math.ceil(targets.length / CHUNK);
  expect(chunks).toBe(4);

  // Two chunks of four settled: positions 0..79 are rows or runs, the rest PENDING in their jobs.
  expect(await runChunks(server, 2)).toBe(2);
  const expected = (settledBelow: number): Item[] =>
    targets.map((target, position) => ({
      position,
      targetId: ticketGid(target),
      outcome: position >= settledBelow ? "PENDING" : missingAt.has(position) ? "FAILED" : "SUCCEEDED",
      error: position < settledBelow && missingAt.has(position)
        ? { code: "NOT_FOUND", message: "No such ticket." }
        : null,
      attempts: position < settledBelow ? 1 : 0,
    }));
  const { rows: stored } = await sql<{ rows: number; runs: number; in_runs: number }>`
    SELECT (SELECT count(*) FROM bulk_operation_items WHERE operation_id = ${operationId})::int AS rows,
      (SELECT count(*) FROM bulk_item_runs WHERE operation_id = ${operationId})::int AS runs,
      (SELECT coalesce(sum(cardinality(target_ids)), 0) FROM bulk_item_runs WHERE operation_id = ${operationId})::int
        AS in_runs`.execute(db);
  // Chunk 0 (0..39): missing 0, 20, 21, 39 -> runs 1-19, 22-38; chunk 1 (40..79): missing 40 -> run 41-79.
  expect(stored[0]).toEqual({ rows: 5, runs: 3, in_runs: 2 * CHUNK - 5 });

  const half = expected(2 * CHUNK);
  const only = (items: Item[], outcomes: string[]) => items.filter((item) => outcomes.includes(item.outcome));
  const filters: [Record<string, unknown>, Item[]][] = [
    [{}, half],
    [{ outcome: ["SUCCEEDED"] }, only(half, ["SUCCEEDED"])],
    [{ outcome: ["FAILED"] }, only(half, ["FAILED"])],
    [{ outcome: ["PENDING"] }, only(half, ["PENDING"])],
    [{ outcome: ["SUCCEEDED", "PENDING"] }, only(half, ["SUCCEEDED", "PENDING"])],
    [{ outcome: ["SUCCEEDED", "FAILED"] }, only(half, ["SUCCEEDED", "FAILED"])],
    [{ errorCode: ["NOT_FOUND"] }, only(half, ["FAILED"])],
    [{ outcome: ["SUCCEEDED"], errorCode: ["NOT_FOUND"] }, []],
  ];
  for (const [filter, want] of filters) {
    for (const size of [1, 7, 50]) {
      expect({ filter, size, items: await walk(server, id, "forward", size, filter) })
        .toEqual({ filter, size, items: want });
      expect({ filter, size, items: await walk(server, id, "backward", size, filter) })
        .toEqual({ filter, size, items: want });
    }
  }
  const halfway = await query(server, { id, first: 1 });
  expect(halfway.counts).toEqual({
    total: targets.length,
    succeeded: 2 * CHUNK - 5,
    failed: 5,
    pending: targets.length - 2 * CHUNK,
  });

  // The rest, then every read of the finished operation.
  expect(await runChunks(server)).toBe(chunks - 2);
  await waitFor(db, operationId, finished, 10_000);
  const all = expected(targets.length);
  expect(await walk(server, id, "forward", 13)).toEqual(all);
  expect(await walk(server, id, "backward", 13, { outcome: ["SUCCEEDED"] })).toEqual(only(all, ["SUCCEEDED"]));
  const done = await query(server, { id, first: 1 });
  expect(done.counts).toEqual({ total: targets.length, succeeded: TICKETS, failed: missingAt.size, pending: 0 });
  expect(done.errorSummary).toEqual([{ code: "NOT_FOUND", count: missingAt.size }]);

  const auth = { authorization: `Bearer ${tenant.viewer.token}` };
  const jsonl = await (await fetch(`${server.url}/bulk-operations/${id}/items.jsonl`, { headers: auth })).text();
  const lines = jsonl.trimEnd().split("\n").map((line) => JSON.parse(line));
  expect(lines.map((r) => ({ position: r.position, targetId: r.targetId, outcome: r.outcome, code: r.errorCode })))
    .toEqual(
      all.map((item) => ({ ...item, code: item.error?.code ?? null })).map(({ position, targetId, outcome, code }) => ({
        position,
        targetId,
        outcome,
        code,
      })),
    );
  const succeeded = await (await fetch(`${server.url}/bulk-operations/${id}/items.jsonl?outcome=SUCCEEDED`, {
    headers: auth,
  })).text();
  expect(succeeded.trimEnd().split("\n").map((line) => JSON.parse(line).position))
    .toEqual(only(all, ["SUCCEEDED"]).map((item) => item.position));

  const { rows: view } = await sql<{ position: number; target_id: string; outcome: string }>`
    SELECT position, target_id::text AS target_id, outcome FROM bulk_operation_ledger
    WHERE operation_id = ${operationId} ORDER BY position`.execute(db);
  expect(view).toEqual(
    all.map((item, position) => ({ position, target_id: targets[position], outcome: item.outcome })),
  );

  // Retention: the runs go with the rows, counted as the items they hold.
  const later = new Date(Date.now() + 400 * 86_400_000);
  const purged = await purgeExpired(db, { retentionDays: 30, now: later });
  expect(purged).toMatchObject({ operations: 1, items: targets.length });
  const { rows: left } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM bulk_item_runs WHERE operation_id = ${operationId}`.execute(db);
  expect(left[0].n).toBe(0);
});
