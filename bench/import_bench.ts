/**
 * Bulk import figures (issue 10): prints them, asserts nothing. Run by `deno task bench` after the
 * others, or alone:
 *   deno run --allow-net --allow-env --allow-read --allow-write --allow-run --allow-sys bench/import_bench.ts \
 *     [--rows 1000000] [--inline 10000] [--runs 20]
 * The real app (src/app.ts startApp, its worker pool of WORKERS threads) over a fresh embedded
 * PostgreSQL (or DATABASE_URL), real HTTP clients, side by side in one run on one database:
 *
 * (a) staged-upload import of a `--rows` CSV (realistic ticket rows of ~150 bytes: title, body,
 *     status, priority, category, externalId), from the first byte sent to the terminal state, in
 *     phases: upload (createUpload + PUT, the file generated while it is sent, so the client holds
 *     one block), parse/stage (startBulkImport: read back, parse, key and write the ledger), apply
 *     (the workers create the tickets). Peak RSS of this process (the service: API, its worker
 *     threads, and the small client) sampled every 50 ms during the import.
 * (b) the same rows through a raw `COPY tickets (...) FROM STDIN` (npm pg-copy-streams) into
 *     another tenant, the floor any import is measured against: ratio = COPY time / import time
 *     (target at least 0.5).
 * (c) startBulkImport latency with `--inline` rows inline (source.rows), `--runs` times after 3
 *     warm-ups, p50 / p95, on an app with WORKERS=0 so the request is measured alone (target p50 <
 *     300 ms).
 */
import { parseArgs } from "node:util";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { sql } from "kysely";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { startApp } from "../src/app.ts";
import { mintToken } from "../src/auth/tokens.ts";
import { loadConfig } from "../src/config.ts";
import { createDb, type Db } from "../src/db/database.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { configureLog } from "../src/log.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: {
    rows: { type: "string", default: "1000000" },
    inline: { type: "string", default: "10000" },
    runs: { type: "string", default: "20" },
  },
});
const ROWS = Number(values.rows);
const INLINE = Number(values.inline);
const RUNS = Number(values.runs);
const WARMUP = 3;

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
  const baseConfig = {
    ...env,
    PORT: "0",
    DATABASE_URL: url,
    LOG_LEVEL: "warn",
    BULK_MAX_TARGETS: String(Math.max(ROWS, INLINE)),
    BULK_MAX_STARTS_PER_MINUTE: "10000",
    BULK_MAX_ACTIVE_PER_USER: "1000",
    BULK_MAX_WAITING_PER_USER: "1000",
    GRAPHQL_COST_BUCKET_SIZE: "100000000",
  };

  // ---- (a) staged upload import -------------------------------------------------------------
  const importer = await admin(db, "import bench");
  const app = await startApp(loadConfig(baseConfig), url);
  // Peak RSS per phase: which one holds memory.
  const rssAtStart = Deno.memoryUsage().rss;
  const peaks = { upload: 0, stage: 0, apply: 0 };
  let phase: keyof typeof peaks = "upload";
  const sampler = setInterval(() => peaks[phase] = Math.max(peaks[phase], Deno.memoryUsage().rss), 50);
  const t0 = performance.now();
  const { createUpload } = await graphql(app.url, importer.token, "mutation { createUpload { upload { id url } } }");
  const put = await fetch(`${app.url}${new URL(createUpload.upload.url).pathname}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${importer.token}` },
    body: csvStream(ROWS, "imp"),
  });
  if (put.status !== 200) throw new Error(`PUT ${put.status}: ${await put.text()}`);
  const { bytes } = await put.json();
  const tUploaded = performance.now();
  phase = "stage";
  const { startBulkImport } = await graphql(app.url, importer.token, START, {
    input: { source: { upload: createUpload.upload.id }, format: "CSV" },
  });
  if (startBulkImport.userErrors.length) throw new Error(JSON.stringify(startBulkImport.userErrors));
  const tStarted = performance.now();
  phase = "apply";
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
  clearInterval(sampler);
  await app.stop();
  const importMs = tDone - t0;
  console.log(
    `(a) import of ${fmt(ROWS)} CSV rows (${mib(bytes)}, ${(bytes / ROWS).toFixed(0)} bytes/row) ` +
      `through a staged upload: ${seconds(importMs)} (${fmt(ROWS / (importMs / 1000))} rows/s)`,
  );
  console.log(
    `    phases: upload ${seconds(tUploaded - t0)}, parse/stage ${seconds(tStarted - tUploaded)}, ` +
      `apply ${seconds(tDone - tStarted)}`,
  );
  console.log(
    `    peak RSS ${mib(Math.max(...Object.values(peaks)))} [target < 400 MiB]: upload ${mib(peaks.upload)}, ` +
      `parse/stage ${mib(peaks.stage)}, apply ${mib(peaks.apply)} (at start ${mib(rssAtStart)})`,
  );

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
  console.log(`    ratio COPY / import = ${(copyMs / importMs).toFixed(2)} [target >= 0.5]`);

  // ---- (c) inline startBulkImport latency -------------------------------------------------
  {
    const inline = await admin(db, "inline bench");
    const quiet = await startApp(loadConfig({ ...baseConfig, WORKERS: "0" }), url);
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
