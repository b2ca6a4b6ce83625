/**
 * Engine v2 (migrations/0012): a start writes no ledger row, only one job per chunk holding its
 * chunk's keys in input order; each item's ledger row is INSERTed once, by the chunk that settles
 * it; the items of a half-run operation list settled and PENDING items together, in position
 * order, with cursors both ways.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { listItems } from "../src/bulk/history.ts";
import { claimJob } from "../src/bulk/queue/claim.ts";
import { runChunk } from "../src/bulk/run-chunk.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { start, ticketIds } from "./helpers/bulk.ts";
import { startTestServer } from "./helpers/server.ts";

const CHUNK = 40;

Deno.test("a start writes one job per chunk with its keys and no ledger row; each chunk inserts its items once", async () => {
  await using server = await startTestServer({ tickets: 100, env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK) } });
  const { db, tenant } = server;
  const ids = (await ticketIds(db, tenant.id)).reverse();
  // Input order kept, duplicates dropped (first wins), a missing id kept as a target (NOT_FOUND later).
  const input = [...ids.slice(0, 60), ids[3], "999999999", ...ids.slice(60)];
  const op = await start(server, tenant.admin, {
    actionType: "SET_PRIORITY",
    params: { priority: "URGENT" },
    targets: { kind: "ids", ids: input },
  });
  const expected = [...new Set(input)];
  expect(op.total).toBe(expected.length);

  const { rows: jobs } = await sql<
    { chunk_index: number; first_position: number; last_position: number; target_ids: string[] }
  >`
      SELECT chunk_index, first_position, last_position, target_ids FROM bulk_jobs
      WHERE operation_id = ${op.id} ORDER BY chunk_index`.execute(db);
  expect(jobs.map((j) => [j.chunk_index, j.first_position, j.last_position])).toEqual([[0, 0, 39], [1, 40, 79], [
    2,
    80,
    100,
  ]]);
  expect(jobs.flatMap((j) => j.target_ids.map(String))).toEqual(expected);
  const items = async () =>
    (await sql<{ n: number }>`SELECT count(*)::int AS n FROM bulk_operation_items WHERE operation_id = ${op.id}`
      .execute(db)).rows[0].n;
  expect(await items()).toBe(0);

  // Chunk 0 runs: its 40 rows are inserted with their outcomes; the others stay in their jobs.
  const job = await claimJob(db, "worker-test", 60_000);
  expect(job?.chunk_index).toBe(0);
  await runChunk(db, ticketsDomain, job!);
  expect(await items()).toBe(CHUNK);
  const { rows: settled } = await sql<{ positions: number[]; attempts: number[] }>`
      SELECT array_agg(position ORDER BY position) AS positions, array_agg(DISTINCT attempts) AS attempts
      FROM bulk_operation_items WHERE operation_id = ${op.id}`.execute(db);
  expect(settled).toEqual([{ positions: expected.slice(0, CHUNK).map((_, k) => k), attempts: [1] }]);

  // The items of the half-run operation: settled then PENDING, in position order, paged both ways.
  const all = await listItems(db, op.id, {}, { limit: 200, direction: "forward" });
  expect(all.map((i) => i.position)).toEqual(expected.map((_, k) => k));
  expect(all.map((i) => String(i.target_id))).toEqual(expected);
  const pendingFlags = (rows: { outcome: string }[]) => rows.map((i) => i.outcome === "PENDING");
  expect(pendingFlags(all)).toEqual(expected.map((_, k) => k >= CHUNK));
  const across = await listItems(db, op.id, {}, { limit: 10, seek: [34], direction: "forward" });
  expect(across.map((i) => [i.position, i.outcome === "PENDING"])).toEqual(
    [35, 36, 37, 38, 39, 40, 41, 42, 43, 44].map((p) => [p, p >= CHUNK]),
  );
  const back = await listItems(db, op.id, {}, { limit: 10, seek: [45], direction: "backward" });
  expect(back.map((i) => i.position)).toEqual([44, 43, 42, 41, 40, 39, 38, 37, 36, 35]);
  const pending = await listItems(db, op.id, { outcome: ["PENDING"] }, {
    limit: 5,
    seek: [78],
    direction: "forward",
  });
  expect(pending.map((i) => [i.position, String(i.target_id)])).toEqual(
    [79, 80, 81, 82, 83].map((p) => [p, expected[p]]),
  );
  const lastPending = await listItems(db, op.id, { outcome: ["PENDING"] }, { limit: 3, direction: "backward" });
  expect(lastPending.map((i) => i.position)).toEqual([100, 99, 98]);
});
