/**
 * `deno task bench:export [-- --tickets N] [--chunk C] [--export-chunk E] [--workers W] [--clients K]
 * [--old-space-mb M] [--semi-space-mb S]`
 * (also run by `deno task bench`): prints figures, asserts nothing. Seeds N tickets (default
 * 100,000) into a fresh database and, in the same run on the same database:
 *   (a) the ceiling: `COPY (SELECT <the export's columns> ... ORDER BY id DESC) TO STDOUT WITH
 *       (FORMAT csv, HEADER)` read to its last byte by this process (npm pg-copy-streams);
 *   (b) the service: the API as its own process (src/main.ts with the `start` task's flags, W
 *       worker threads, chunks of C, an export's of E: BULK_EXPORT_CHUNK_SIZE, the service's default
 *       when not given), startBulkExport of every ticket to CSV over HTTP, then one
 *       download of GET /bulk-operations/{id}/export to its last byte; timed from the mutation to
 *       that byte, in phases (start request, chunks rendered by the workers, download);
 *   (c) K clients (default 3) downloading that file at once: wall time, MB/s, and the API
 *       process's peak RSS while they do (VmRSS sampled every 100 ms; its VmHWM too).
 * The ratio printed is (a) / (b): the issue asks for at least 0.5 at 1,000,000 tickets, and
 * for a peak RSS under 400 MB in (c). `--old-space-mb M` caps each V8 heap of the API process
 * (--max-old-space-size, as tests/downloads_memory_test.ts does): without it the RSS is mostly
 * the collector's slack in the worker threads, whatever the operation (see docs/performance.md);
 * `--semi-space-mb S` caps each heap's young generation (--max-semi-space-size, as the `worker`
 * task runs), the other share of that slack.
 * Uses DATABASE_URL when set, else an embedded PostgreSQL.
 */
import { parseArgs } from "node:util";
import { sql } from "kysely";
import pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { mintToken } from "../src/auth/tokens.ts";
import { loadConfig } from "../src/config.ts";
import { createDb } from "../src/db/database.ts";
import { configureLog } from "../src/log.ts";
import { residentMemory, spawnApi } from "../tests/helpers/api_process.ts";
import { benchAdmin, openBenchDatabase } from "./bench_db.ts";
import { fmt } from "./bulk_table.ts";
import { insertTickets } from "../src/tickets/seed.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: {
    tickets: { type: "string", default: "100000" },
    chunk: { type: "string", default: "2000" },
    "export-chunk": { type: "string" },
    workers: { type: "string", default: "2" },
    clients: { type: "string", default: "3" },
    "old-space-mb": { type: "string" },
    "semi-space-mb": { type: "string" },
  },
});
const n = Number(values.tickets);
const clients = Number(values.clients);
configureLog({ logLevel: "warn", logFormat: "text" });

/** The export's default fields as SQL columns, in its order (src/tickets/model.ts TICKET_EXPORT_FIELDS). */
const COPY_COLUMNS = "id, title, body, status, priority, category, assignee_id, created_by, version, " +
  "created_at, updated_at, deleted_at";

const seconds = (ms: number) => (ms / 1000).toFixed(2);
const mb = (bytes: number) => (bytes / 1_048_576).toFixed(1);

const config = loadConfig({ DATABASE_URL: Deno.env.get("DATABASE_URL") });
const database = await openBenchDatabase(config, `export_bench_${Deno.pid}`);
const db = createDb(database.url, { poolSize: 2, applicationName: "export bench" });
let api: Awaited<ReturnType<typeof spawnApi>> | null = null;
try {
  const admin = await benchAdmin(db);
  let t = performance.now();
  await insertTickets(db, admin.tenantId, n);
  await sql`VACUUM ANALYZE tickets`.execute(db);
  console.log(`seeded ${fmt(n)} tickets in ${seconds(performance.now() - t)} s`);

  // (a) COPY ... TO STDOUT, after one warm-up read of the same rows (both runs then read a warm cache).
  const copy = async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const started = performance.now();
      const stream = client.query(copyTo(
        `COPY (SELECT ${COPY_COLUMNS} FROM tickets WHERE tenant_id = '${admin.tenantId}' AND deleted_at IS NULL ` +
          `ORDER BY id DESC) TO STDOUT WITH (FORMAT csv, HEADER)`,
      ));
      let bytes = 0;
      for await (const chunk of stream) bytes += (chunk as Uint8Array).length;
      return { ms: performance.now() - started, bytes };
    } finally {
      await client.end();
    }
  };
  await copy();
  const copied = await copy();
  console.log(`(a) COPY TO STDOUT: ${seconds(copied.ms)} s, ${mb(copied.bytes)} MB`);

  // (b) the service, as its own process.
  api = await spawnApi({
    DATABASE_URL: database.url,
    PORT: "0",
    SEED_DEMO: "0",
    WORKERS: values.workers!,
    BULK_CHUNK_SIZE: values.chunk!,
    ...(values["export-chunk"] ? { BULK_EXPORT_CHUNK_SIZE: values["export-chunk"] } : {}),
    BULK_MAX_TARGETS: String(Math.max(n, 1)),
    LOG_LEVEL: "warn",
  }, [
    ...(values["old-space-mb"] ? [`--max-old-space-size=${values["old-space-mb"]}`] : []),
    ...(values["semi-space-mb"] ? [`--max-semi-space-size=${values["semi-space-mb"]}`] : []),
  ]);
  const token = await mintToken(db, admin.userId, "export bench");
  const idle = await residentMemory(api.pid);
  t = performance.now();
  const started = await (await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: `mutation($input: StartBulkExportInput!) {
        startBulkExport(input: $input) { bulkOperation { id } userErrors { code message } } }`,
      variables: { input: { targets: { filter: {} }, format: "CSV" } },
    }),
  })).json();
  const startMs = performance.now() - t;
  const payload = started.data?.startBulkExport;
  if (!payload?.bulkOperation) throw new Error(`startBulkExport failed: ${JSON.stringify(started)}`);
  const id: string = payload.bulkOperation.id;
  const uuid = atob(id.replace(/-/g, "+").replace(/_/g, "/")).split(":")[1];
  let chunksMs = 0;
  for (;;) {
    const op = await db.selectFrom("bulk_operations").select(["status", "first_chunk_at", "finished_at"])
      .where("id", "=", uuid).executeTakeFirstOrThrow();
    if (op.finished_at) {
      if (op.status !== "COMPLETED") throw new Error(`the export ended ${op.status}`);
      chunksMs = new Date(op.finished_at).getTime() - new Date(op.first_chunk_at!).getTime();
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const renderMs = performance.now() - t - startMs;
  const rendered = await residentMemory(api.pid);
  const downloadOnce = async () => {
    const response = await fetch(`${api!.url}/bulk-operations/${id}/export`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (response.status !== 200) throw new Error(`download: HTTP ${response.status} ${await response.text()}`);
    let bytes = 0;
    for await (const chunk of response.body!) bytes += chunk.length;
    if (bytes !== Number(response.headers.get("content-length"))) throw new Error("short download");
    return bytes;
  };
  const downloadStarted = performance.now();
  const fileBytes = await downloadOnce();
  const downloadMs = performance.now() - downloadStarted;
  const downloaded = await residentMemory(api.pid);
  const totalMs = performance.now() - t;
  console.log(
    `(b) export to CSV, start to last byte: ${seconds(totalMs)} s (start ${seconds(startMs)} s, chunks ` +
      `${seconds(renderMs)} s of which first to last chunk ${seconds(chunksMs)} s, download ${
        seconds(downloadMs)
      } s at ${mb(fileBytes / (downloadMs / 1000))} MB/s), ` +
      `${mb(fileBytes)} MB`,
  );
  console.log(`    ratio COPY / export: ${(copied.ms / totalMs).toFixed(2)} (the issue asks >= 0.5)`);

  // (c) K concurrent downloads, the API's RSS sampled meanwhile.
  let peakRss = idle.rss;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakRss = Math.max(peakRss, (await residentMemory(api!.pid)).rss);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const concurrentStarted = performance.now();
  const sizes = await Promise.all(Array.from({ length: clients }, downloadOnce));
  const concurrentMs = performance.now() - concurrentStarted;
  sampling = false;
  await sampler;
  const total = sizes.reduce((sum, size) => sum + size, 0);
  const after = await residentMemory(api.pid);
  console.log(
    `(c) ${clients} downloads at once: ${seconds(concurrentMs)} s, ${mb(total / (concurrentMs / 1000))} MB/s in all; ` +
      `API RSS ${mb(idle.rss)} MB idle, ${mb(rendered.rss)} MB after the chunks, ${mb(downloaded.rss)} MB after ` +
      `one download, peak ${mb(peakRss)} MB while downloading (VmHWM ${mb(after.peak)} MB; ` +
      `the issue asks < 400 MB)`,
  );
} finally {
  await api?.stop();
  await db.destroy();
  await database.stop();
}
