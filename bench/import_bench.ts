/**
 * Bulk import figures (issue 10): prints them, asserts nothing. Run by `deno task bench` after the
 * others, or alone:
 *   deno run --allow-net --allow-env --allow-read --allow-write --allow-run --allow-sys bench/import_bench.ts \
 *     [--rows 1000000] [--inline 10000] [--runs 20] [--workers 2] [--scenarios a,b,c] [--v8-flags F,G]
 * The service as `deno task start` runs it (src/main.ts in its own process, with the task's flags
 * from deno.json, its worker pool of --workers threads) over a fresh embedded PostgreSQL (or
 * DATABASE_URL), real HTTP clients, side by side in one run on one database:
 *
 * (a) staged-upload import of a `--rows` CSV (realistic ticket rows of ~150 bytes: title, body,
 *     status, priority, category, externalId), from the first byte sent to the terminal state, in
 *     phases: upload (createUpload + PUT, the file generated while it is sent, so the client holds
 *     one block), parse/stage (startBulkImport: read back, parse, key and write the ledger), apply
 *     (the workers create the tickets). Peak RSS of the service's process (API and worker threads;
 *     the bench client is apart) per phase: its VmHWM, reset at each phase's start.
 * (b) the same rows through a raw `COPY tickets (...) FROM STDIN` (npm pg-copy-streams) into
 *     another tenant, the floor any import is measured against: ratio = COPY time / import time
 *     (target at least 0.5).
 * (c) startBulkImport latency with `--inline` rows inline (source.rows), `--runs` times after 3
 *     warm-ups, p50 / p95, on a service with WORKERS=0 so the request is measured alone (target p50 <
 *     300 ms).
 */
import { parseArgs } from "node:util";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { sql } from "kysely";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { mintToken } from "../src/auth/tokens.ts";
import { createDb, type Db } from "../src/db/database.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { configureLog } from "../src/log.ts";
import { residentMemory, spawnApi } from "../tests/helpers/api_process.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: {
    rows: { type: "string", default: "1000000" },
    inline: { type: "string", default: "10000" },
    runs: { type: "string", default: "20" },
    workers: { type: "string", default: "2" },
    "v8-flags": { type: "string", default: "" },
    scenarios: { type: "string", default: "a,b,c" },
  },
});
const ROWS = Number(values.rows);
const INLINE = Number(values.inline);
const RUNS = Number(values.runs);
const WARMUP = 3;
const SCENARIOS = new Set(values.scenarios.split(","));

const env = Deno.env.toObject();
configureLog({ logLevel: "warn", logFormat: "text" });
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const STATUSES = ["OPEN", "PENDING", "RESOLVED"];
const PRIORITIES = ["LOW", "NORMAL", "HIGH", "URGENT"];
const CATEGORIES = ["GENERAL", "BILLING", "TECHNICAL", "ACCOUNT"];
/** Row i of the file (~150 bytes, no separators or quotes inside: the same text serves the CSV and the COPY). */
function row(i: number, prefix: string): string[] {
  return [
    `Customer ${i % 9973} cannot open invoice #${100000 + i}`,
    `Reported via e-mail on day ${i % 365}; the PDF download stops at 80% in browser ${i % 7}.`,
    STATUSES[i % 3],
    PRIORITIES[i % 4],
    CATEGORIES[i % 4],
    `${prefix}-${i}`,
  ];
}
const HEADER = "title,body,status,priority,category,externalId\n";
const BLOCK_ROWS = 2000;

/** The CSV as a stream generated block by block (the client never holds the file). */
function csvStream(rows: number, prefix: string, separator = ","): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 0;
  return new ReadableStream({
    start(controller) {
      if (separator === ",") controller.enqueue(encoder.encode(HEADER));
    },
    pull(controller) {
      if (next >= rows) return controller.close();
      const end = Math.min(rows, next + BLOCK_ROWS);
      let text = "";
      for (let i = next; i < end; i++) text += row(i, prefix).join(separator) + "\n";
      next = end;
      controller.enqueue(encoder.encode(text));
    },
  });
}

const embedded = env.DATABASE_URL ? null : await startEmbedded({
  dataDir: `.test-data/import-bench-${Deno.pid}`,
  port: 56000 + (Deno.pid % 1000),
  ephemeral: true,
});
const url = env.DATABASE_URL ?? embedded!.databaseUrl("import_bench");
if (embedded) await embedded.createDatabase("import_bench");

/** Resets the process's VmHWM to its current RSS (Linux: 5 > /proc/<pid>/clear_refs). */
async function resetPeak(pid: number): Promise<void> {
  const done = await new Deno.Command("sh", { args: ["-c", `echo 5 > /proc/${pid}/clear_refs`] }).output();
  if (!done.success) throw new Error(`cannot reset the peak RSS of ${pid}: ${new TextDecoder().decode(done.stderr)}`);
}

async function admin(db: Db, name: string) {
  const tenant = await db.insertInto("tenants").values({ name }).returning("id").executeTakeFirstOrThrow();
  const user = await db.insertInto("users").values({
    tenant_id: tenant.id,
    email: `import-bench-${crypto.randomUUID()}@bench.test`,
    name: "Import Bench",
    role: "ADMIN",
  }).returning("id").executeTakeFirstOrThrow();
  return { tenantId: tenant.id, token: await mintToken(db, user.id, "import bench") };
}

async function graphql(appUrl: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(`${appUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const result = await response.json();
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data;
}

const START = `mutation Start($input: StartBulkImportInput!) {
  startBulkImport(input: $input) { bulkOperation { id status counts { total } } userErrors { code message } }
}`;

try {
  await migrate(url);
  const db = createDb(url, { poolSize: 4, applicationName: "import bench" });
  // The service as `deno task start` runs it (its own process, its task's flags), so its memory is its own.
  const serviceEnv = {
    PORT: "0",
    SEED_DEMO: "0",
    WORKERS: values.workers,
    DATABASE_URL: url,
    LOG_LEVEL: "warn",
    BULK_MAX_TARGETS: String(Math.max(ROWS, INLINE)),
    BULK_MAX_STARTS_PER_MINUTE: "10000",
    BULK_MAX_ACTIVE_PER_USER: "1000",
    BULK_MAX_WAITING_PER_USER: "1000",
    GRAPHQL_COST_BUCKET_SIZE: "100000000",
  };

  // Added to the start task's own (e.g. --v8-flags=--max-old-space-size=96, to see what a cap costs).
  const v8Flags = values["v8-flags"] ? values["v8-flags"].split(",") : [];
  let importMs = 0;
  if (SCENARIOS.has("a")) {
    // ---- (a) staged upload import -------------------------------------------------------------
    const importer = await admin(db, "import bench");
    await using api = await spawnApi(serviceEnv, v8Flags);
    const rssAtStart = (await residentMemory(api.pid)).rss;
    // Peak RSS per phase: VmHWM, reset at each phase's start (exact, where sampling could miss a peak).
    const peaks = { upload: 0, stage: 0, apply: 0 };
    const t0 = performance.now();
    await resetPeak(api.pid);
    const { createUpload } = await graphql(api.url, importer.token, "mutation { createUpload { upload { id url } } }");
    const put = await fetch(`${api.url}${new URL(createUpload.upload.url).pathname}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${importer.token}` },
      body: csvStream(ROWS, "imp"),
    });
    if (put.status !== 200) throw new Error(`PUT ${put.status}: ${await put.text()}`);
    const { bytes } = await put.json();
    const tUploaded = performance.now();
    peaks.upload = (await residentMemory(api.pid)).peak;
    await resetPeak(api.pid);
    const { startBulkImport } = await graphql(api.url, importer.token, START, {
      input: { source: { upload: createUpload.upload.id }, format: "CSV" },
    });
    if (startBulkImport.userErrors.length) throw new Error(JSON.stringify(startBulkImport.userErrors));
    const tStarted = performance.now();
    peaks.stage = (await residentMemory(api.pid)).peak;
    await resetPeak(api.pid);
    const operationId = atob(startBulkImport.bulkOperation.id).split(":")[1];
    for (;;) {
      const op = await db.selectFrom("bulk_operations").select(["status", "succeeded", "failed", "error_counts"])
        .where("id", "=", operationId).executeTakeFirstOrThrow();
      if (op.status !== "RUNNING" && op.status !== "QUEUED") {
        if (op.succeeded !== ROWS) {
          throw new Error(`import ended ${op.status}, ${op.succeeded} succeeded, ${JSON.stringify(op.error_counts)}`);
        }
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const tDone = performance.now();
    peaks.apply = (await residentMemory(api.pid)).peak;
    await api.stop();
    importMs = tDone - t0;
    console.log(
      `(a) import of ${fmt(ROWS)} CSV rows (${mib(bytes)}, ${(bytes / ROWS).toFixed(0)} bytes/row) ` +
        `through a staged upload: ${seconds(importMs)} (${fmt(ROWS / (importMs / 1000))} rows/s)`,
    );
    console.log(
      `    phases: upload ${seconds(tUploaded - t0)}, parse/stage ${seconds(tStarted - tUploaded)}, ` +
        `apply ${seconds(tDone - tStarted)}`,
    );
    console.log(
      `    service peak RSS ${mib(Math.max(...Object.values(peaks)))} [target < 400 MiB]: upload ${
        mib(peaks.upload)
      }, ` +
        `parse/stage ${mib(peaks.stage)}, apply ${mib(peaks.apply)} (idle at start ${mib(rssAtStart)})`,
    );
  }
  if (SCENARIOS.has("b")) {
    // ---- (b) raw COPY of the same rows ------------------------------------------------------
    const copier = await admin(db, "copy bench");
    const client = new pg.Client({ connectionString: url, application_name: "import bench copy" });
    await client.connect();
    const c0 = performance.now();
    const stream = client.query(copyFrom(
      `COPY tickets (title, body, status, priority, category, external_id, tenant_id) FROM STDIN (FORMAT text)`,
    ));
    const rows = Readable.from((async function* () {
      const decoder = new TextDecoder();
      // Each line gets the tenant column (text format: tab-separated).
      for await (const block of csvStream(ROWS, "copy", "\t")) {
        yield decoder.decode(block).replaceAll("\n", `\t${copier.tenantId}\n`);
      }
    })());
    await pipeline(rows, stream);
    const copyMs = performance.now() - c0;
    await client.end();
    console.log(
      `(b) raw COPY tickets FROM STDIN of the same ${fmt(ROWS)} rows: ${seconds(copyMs)} ` +
        `(${fmt(ROWS / (copyMs / 1000))} rows/s)`,
    );
    if (importMs) console.log(`    ratio COPY / import = ${(copyMs / importMs).toFixed(2)} [target >= 0.5]`);
  }
  // ---- (c) inline startBulkImport latency -------------------------------------------------
  if (SCENARIOS.has("c")) {
    const inline = await admin(db, "inline bench");
    await using quiet = await spawnApi({ ...serviceEnv, WORKERS: "0" }, v8Flags);
    const samples: number[] = [];
    for (let run = 0; run < WARMUP + RUNS; run++) {
      const rowsInput = Array.from({ length: INLINE }, (_, i) => {
        const [title, body, status, priority, category, externalId] = row(i, `inl${run}`);
        return { title, body, status, priority, category, externalId };
      });
      const body = JSON.stringify({ query: START, variables: { input: { source: { rows: rowsInput } } } });
      const t = performance.now();
      const response = await fetch(`${quiet.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${inline.token}` },
        body,
      });
      const result = await response.json();
      const ms = performance.now() - t;
      const payload = result.data?.startBulkImport;
      if (!payload?.bulkOperation || payload.bulkOperation.counts.total !== INLINE) {
        throw new Error(`inline start failed: ${JSON.stringify(result).slice(0, 500)}`);
      }
      if (run >= WARMUP) samples.push(ms);
    }
    await quiet.stop();
    console.log(
      `(c) startBulkImport with ${fmt(INLINE)} inline rows, ${RUNS} runs after ${WARMUP} warm-ups: ` +
        `p50 ${percentile(samples, 50).toFixed(0)} ms, p95 ${
          percentile(samples, 95).toFixed(0)
        } ms [target p50 < 300 ms]`,
    );
  }
  await sql`SELECT 1`.execute(db);
  await db.destroy();
} finally {
  await embedded?.stop();
}
