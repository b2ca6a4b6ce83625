/**
 * `deno task bench [-- --tickets N] [--workers W] [--chunk C]`: prints figures, asserts nothing.
 * Seeds N tickets (default 100,000) into a fresh database and measures, in the same run:
 *   (a) the ceiling: ONE set-based UPDATE making the same change (OPEN -> PENDING);
 *   (b) the engine: a SET_STATUS operation over the same tickets (targets: the filter
 *       status = OPEN frozen at start, as a real million-ticket change is given), from
 *       startOperation to its terminal state, worked by the in-process Web Worker pool;
 * and prints items/s for both, their ratio, and the peak of this process's RSS sampled every
 * 20 ms (the workers are threads of this process; /proc needs --allow-all, which we refuse);
 *   (c) the end of (b): the transaction of the chunk that finished it, against the median chunk
 *       (finishing reads no item, so it should cost about one chunk);
 *   (d) a cancel: a second operation over the same tickets, cancelled once its first chunks
 *       committed: the cancelBulkOperation service call, and the time until it is CANCELLED.
 * Uses DATABASE_URL when set, else an embedded one.
 */
import { parseArgs } from "node:util";
import { sql } from "kysely";
import { loadConfig } from "../src/config.ts";
import { createDb } from "../src/db/database.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { cancelOperation } from "../src/bulk/cancel.ts";
import type { OperationRow } from "../src/bulk/operation.ts";
import { startPool } from "../src/bulk/start-pool.ts";
import { startOperation } from "../src/bulk/start.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import { setLogLevel } from "../src/log.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"), // `deno task bench -- --tickets N` passes the "--" on
  options: {
    tickets: { type: "string", default: "100000" },
    workers: { type: "string" },
    chunk: { type: "string" },
  },
});
const n = Number(values.tickets);
const env = Deno.env.toObject();
const config = loadConfig({
  ...env,
  ...(values.workers && { WORKERS: values.workers }),
  ...(values.chunk && { BULK_CHUNK_SIZE: values.chunk }),
  BULK_MAX_TARGETS: String(Math.max(n, 100_000)),
  LOG_LEVEL: "warn",
});
setLogLevel("warn");

/** Current RSS of this process (worker threads included), sampled every 20 ms while waiting. */
function rssMb(): number {
  return Deno.memoryUsage().rss / 1024 / 1024;
}

const fmt = (x: number) => Math.round(x).toLocaleString("en-US");

const embedded = config.databaseUrl ? null : await startEmbedded({
  dataDir: `.test-data/bench-${Deno.pid}`,
  port: 54000 + (Deno.pid % 1000),
  ephemeral: true,
});
const url = config.databaseUrl ?? embedded!.databaseUrl("bench");
if (embedded) await embedded.createDatabase("bench");
try {
  await migrate(url);
  const db = createDb(url, { poolSize: 4 });
  const tenant = await db.insertInto("tenants").values({ name: `bench ${Date.now()}` }).returning("id")
    .executeTakeFirstOrThrow();
  const user = await db.insertInto("users").values({
    tenant_id: tenant.id,
    email: `bench-${crypto.randomUUID()}@bench.test`,
    name: "Bench",
    role: "ADMIN",
  }).returning(["id", "email", "name"]).executeTakeFirstOrThrow();
  let t = performance.now();
  await insertTickets(db, tenant.id, n);
  await sql`UPDATE tickets SET status = 'OPEN' WHERE tenant_id = ${tenant.id}`.execute(db);
  await sql`VACUUM ANALYZE tickets`.execute(db);
  console.log(`seeded ${fmt(n)} tickets in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  // (a) the ceiling
  t = performance.now();
  await sql`UPDATE tickets SET status = 'PENDING', version = version + 1, updated_at = now()
            WHERE tenant_id = ${tenant.id} AND status = 'OPEN'`.execute(db);
  const ceilingS = (performance.now() - t) / 1000;
  await sql`UPDATE tickets SET status = 'OPEN' WHERE tenant_id = ${tenant.id}`.execute(db);
  await sql`VACUUM ANALYZE tickets`.execute(db);

  // (b) the engine
  const pool = await startPool(config, url, db);
  const chunkMs = new Map<string, number[]>();
  const finishingMs = new Map<string, number>();
  pool.on("chunk", (chunk) => {
    if (chunk.items > 0) chunkMs.set(chunk.operationId, [...chunkMs.get(chunk.operationId) ?? [], chunk.ms]);
    if (chunk.finished) finishingMs.set(chunk.operationId, chunk.ms);
  });
  const viewer = { userId: user.id, tenantId: tenant.id, role: "ADMIN" as const, email: user.email, name: user.name };
  const setStatus = (from: string, to: string) =>
    startOperation(db, ticketsDomain, viewer, {
      actionType: "SET_STATUS",
      params: { status: to },
      targets: { kind: "filter", filter: { status: [from] } },
    }, config);
  let peak = rssMb();
  const read = async (id: string) =>
    await db.selectFrom("bulk_operations").selectAll().where("id", "=", id).executeTakeFirstOrThrow() as OperationRow;
  /** Polls every 20 ms until `done`, sampling the RSS. */
  const until = async (id: string, done: (op: OperationRow) => boolean): Promise<OperationRow> => {
    for (;;) {
      const op = await read(id);
      peak = Math.max(peak, rssMb());
      if (done(op)) return op;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  t = performance.now();
  const { operation } = await setStatus("OPEN", "PENDING");
  const startMs = performance.now() - t;
  const last = await until(operation.id, (op) => op.finished_at !== null);
  const engineS = (performance.now() - t) / 1000;

  // (d) cancel a second operation over the same tickets after its first chunks
  const { operation: second } = await setStatus("PENDING", "OPEN");
  await until(second.id, (op) => op.succeeded >= config.chunkSize * Math.max(1, config.workers));
  t = performance.now();
  const cancel = await cancelOperation(db, ticketsDomain, viewer, second.id);
  const cancelMs = performance.now() - t;
  if (!cancel.ok) throw new Error(`cancel refused: ${cancel.message}`);
  const cancelled = await until(second.id, (op) => op.finished_at !== null);
  const cancelS = (performance.now() - t) / 1000;
  await pool.stop();
  await db.destroy();

  const ceilingRate = n / ceilingS;
  const engineRate = n / engineS;
  console.log(`machine: ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, ${Deno.build.target}`);
  console.log(`workers: ${config.workers}, chunk size: ${config.chunkSize}`);
  console.log(`(a) one set-based UPDATE:  ${fmt(n)} rows in ${ceilingS.toFixed(2)} s = ${fmt(ceilingRate)} items/s`);
  console.log(
    `(b) engine SET_STATUS:     ${fmt(n)} items in ${engineS.toFixed(2)} s = ${fmt(engineRate)} items/s` +
      ` (startOperation ${fmt(startMs)} ms; ${last.status}, succeeded ${fmt(last.succeeded)})`,
  );
  console.log(`ratio engine/ceiling: ${(engineRate / ceilingRate).toFixed(2)}`);
  const chunks = [...chunkMs.get(operation.id) ?? []].sort((a, b) => a - b);
  console.log(
    `(c) finish of (b): the finishing chunk's transaction took ${fmt(finishingMs.get(operation.id) ?? NaN)} ms` +
      ` (median chunk ${fmt(chunks[Math.floor(chunks.length / 2)] ?? NaN)} ms, ${chunks.length} chunks)`,
  );
  console.log(
    `(d) cancel of a ${fmt(second.total)}-item operation after ${fmt(cancel.operation.succeeded)} items: ` +
      `request ${fmt(cancelMs)} ms (${cancel.operation.status}); CANCELLED ${cancelS.toFixed(2)} s after it, ` +
      `${fmt(cancelled.cancelled)} items cancelled (${cancelled.status})`,
  );
  console.log(`peak RSS of this process (API + worker threads): ${peak.toFixed(0)} MB`);
} finally {
  await embedded?.stop();
}
