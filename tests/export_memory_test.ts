/**
 * "The download streams": three clients download an export's file at once while the API
 * process's peak RSS (VmHWM) is watched; then the file is made three times larger and the three
 * download it again. Streamed, the second round raises the peak by a small fraction of the
 * extra bytes; a response that buffered its body would raise it by at least one extra body.
 *
 * As in downloads_memory_test.ts (which says why), the API runs as its own process with its V8
 * old space capped, so garbage does not pile up before a full collection. The parts are
 * written directly (one INSERT ... SELECT repeat()): the download reads only
 * bulk_operation_parts, and rendering 1 GB of tickets would cost this shared machine minutes
 * for nothing the download depends on.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { createDb, type Db } from "../src/db/database.ts";
import { residentMemory, spawnApi } from "./helpers/api_process.ts";
import { freshDatabase } from "./helpers/database.ts";
import { START_EXPORT, uuidOf } from "./helpers/exports.ts";
import { gql } from "./helpers/graphql.ts";
import { createTenant } from "./helpers/server.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import { within } from "./helpers/wait.ts";

const PART_BYTES = 1_000_000;
const FIRST_PARTS = 30;
const SECOND_PARTS = 90;
const CLIENTS = 3;
const OLD_SPACE_MB = 96;

/** Parts from .. to - 1 of ~1 MB of JSONL lines each, and the operation finished. */
async function writeParts(db: Db, operationId: string, from: number, to: number) {
  await sql`INSERT INTO bulk_operation_parts (operation_id, chunk_index, body)
    SELECT ${operationId}, i, repeat('{"id":"' || i || '","title":"Printer offline"}' || chr(10), ${PART_BYTES / 40})
    FROM generate_series(${from}::int, ${to - 1}::int) AS i`.execute(db);
  await sql`UPDATE bulk_operations SET status = 'COMPLETED', finished_at = now() WHERE id = ${operationId}`.execute(db);
}

/** One download read to its end, keeping only its length. */
async function download(url: string, token: string): Promise<number> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  let bytes = 0;
  for await (const chunk of response.body!) bytes += chunk.byteLength;
  expect(bytes).toBe(Number(response.headers.get("content-length")));
  return bytes;
}

Deno.test("export downloads stream: three clients at once, a three times larger file barely raises the peak RSS", async () => {
  const databaseUrl = await freshDatabase();
  await using db = createDb(databaseUrl, { poolSize: 2, applicationName: "test setup" });
  await using api = await spawnApi(
    { DATABASE_URL: databaseUrl, PORT: "0", WORKERS: "0", SEED_DEMO: "0" },
    [`--max-old-space-size=${OLD_SPACE_MB}`],
  );
  const tenant = await createTenant(db, "Export downloads");
  await insertTickets(db, tenant.id, 10);
  const started = await gql(`${api.url}/graphql`, tenant.agent.token, START_EXPORT, {
    input: { targets: { filter: {} }, format: "JSONL" },
  });
  const id = started.data.startBulkExport.bulkOperation.id;
  await sql`DELETE FROM bulk_jobs WHERE operation_id = ${uuidOf(id)}`.execute(db);
  const url = `${api.url}/bulk-operations/${id}/export`;
  const round = async () => {
    const clock = performance.now();
    const sizes = await within(
      Promise.all(Array.from({ length: CLIENTS }, () => download(url, tenant.agent.token))),
      180_000,
      `${CLIENTS} downloads of ${url} are read to their end`,
    );
    return {
      mb: sizes[0] / 1e6,
      seconds: (performance.now() - clock) / 1000,
      peak: (await residentMemory(api.pid)).peak,
    };
  };

  const idle = await residentMemory(api.pid);
  await writeParts(db, uuidOf(id), 0, FIRST_PARTS);
  const first = await round();
  await writeParts(db, uuidOf(id), FIRST_PARTS, SECOND_PARTS);
  const second = await round();
  const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
  for (const run of [first, second]) {
    console.log(
      `export download: ${CLIENTS} x ${run.mb.toFixed(0)} MB at once in ${run.seconds.toFixed(2)} s ` +
        `(${((CLIENTS * run.mb) / run.seconds).toFixed(0)} MB/s in all)`,
    );
  }
  console.log(
    `API process RSS: ${mb(idle.rss)} MB idle, peak ${mb(first.peak)} MB after the first round, ` +
      `${mb(second.peak)} MB after the second (old space capped at ${OLD_SPACE_MB} MB)`,
  );
  expect(second.mb).toBeGreaterThan(85);
  // Each client's body is ~60 MB larger in the second round: buffered, the peak would rise by
  // at least that (three times that for three clients). Streamed, it stays near the first's.
  expect((second.peak - first.peak) / 1e6).toBeLessThan((second.mb - first.mb) * 0.75);
});
