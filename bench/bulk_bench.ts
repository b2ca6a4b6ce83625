/**
 * `deno task bench [-- --tickets N] [--workers W] [--chunk C]`: prints figures, asserts nothing.
 * Seeds N tickets (default 100,000) into a fresh database and measures, in the same run:
 *   (a) the ceiling: ONE set-based UPDATE making the same change (OPEN -> PENDING);
 *   (b) the engine: a SET_STATUS operation over the same tickets (targets: the filter
 *       status = OPEN frozen at start, as a real million-ticket change is given), from
 *       startOperation to its terminal state, worked by the in-process Web Worker pool;
 * and prints items/s for both, their ratio, and the peak of this process's RSS sampled every
 * 20 ms (the workers are threads of this process; /proc needs --allow-all, which we refuse).
 * Uses DATABASE_URL when set, else an embedded one.
 */
import { parseArgs } from "node:util";
import { sql } from "kysely";
import { loadConfig } from "../src/config.ts";
import { createDb } from "../src/db/database.ts";
import { startPool } from "../src/bulk/start-pool.ts";
import { startOperation } from "../src/bulk/start.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { configureLog } from "../src/log.ts";
import { benchAdmin, fmt, openBenchDatabase, reopenTickets, seedTickets } from "./bench_db.ts";

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
configureLog({ logLevel: "warn", logFormat: "text" });

/** Current RSS of this process (worker threads included), sampled every 20 ms while waiting. */
function rssMb(): number {
  return Deno.memoryUsage().rss / 1024 / 1024;
}

const database = await openBenchDatabase(config, "bench");
const url = database.url;
try {
  const db = createDb(url, { poolSize: 4 });
  const viewer = await benchAdmin(db);
  await seedTickets(db, viewer.tenantId, n);

  // (a) the ceiling
  let t = performance.now();
  await sql`UPDATE tickets SET status = 'PENDING', version = version + 1, updated_at = now()
            WHERE tenant_id = ${viewer.tenantId} AND status = 'OPEN'`.execute(db);
  const ceilingS = (performance.now() - t) / 1000;
  await reopenTickets(db, viewer.tenantId);

  // (b) the engine
  const pool = await startPool(config, url, db);
  t = performance.now();
  const { operation } = await startOperation(
    db,
    ticketsDomain,
    viewer,
    {
      actionType: "SET_STATUS",
      params: { status: "PENDING" },
      targets: { kind: "filter", filter: { status: ["OPEN"] } },
    },
    config,
  );
  const startMs = performance.now() - t;
  let last = operation;
  let peak = rssMb();
  for (;;) {
    last = await db.selectFrom("bulk_operations").selectAll().where("id", "=", operation.id)
      .executeTakeFirstOrThrow() as typeof operation;
    peak = Math.max(peak, rssMb());
    if (last.finished_at) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const engineS = (performance.now() - t) / 1000;
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
  console.log(`peak RSS of this process (API + worker threads): ${peak.toFixed(0)} MB`);
} finally {
  await database.stop();
}
