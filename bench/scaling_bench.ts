/**
 * Scaling out: engine items/s with 1, 2, 4 ... `deno task worker` processes on one PostgreSQL.
 *
 *   deno run --allow-net --allow-env --allow-read --allow-write --allow-run --allow-sys bench/scaling_bench.ts \
 *     [-- --tickets 100000] [--processes 1,2,4] [--threads 1] [--chunk 2000]
 *
 * Seeds N tickets (default 100,000) once. For each process count P: all tickets back to OPEN,
 * P real `deno task worker` processes (WORKERS=--threads each, the API's role played by this
 * process with no workers: WORKERS=0), one SET_STATUS operation over every ticket (the filter
 * status = OPEN, frozen at start), timed from its first chunk to its end as the database
 * records them (finished_at - first_chunk_at: process start-up is not counted), then the
 * workers are stopped with SIGTERM. Each worker's /metrics gives its share of the items.
 * Prints a table; asserts nothing. Uses DATABASE_URL when set, else an embedded PostgreSQL.
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config.ts";
import { createDb } from "../src/db/database.ts";
import { startOperation } from "../src/bulk/start.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { configureLog } from "../src/log.ts";
import { scrape, valueOf } from "../tests/helpers/prometheus.ts";
import { spawnWorker, type WorkerProcess } from "../tests/helpers/worker_process.ts";
import { benchAdmin, openBenchDatabase, seedTickets } from "./bench_db.ts";
import { fmt } from "./bulk_table.ts";
import { resetTickets } from "./same_start.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: {
    tickets: { type: "string", default: "100000" },
    processes: { type: "string", default: "1,2,4" },
    threads: { type: "string", default: "1" },
    chunk: { type: "string", default: "2000" },
  },
});
const n = Number(values.tickets);
const counts = values.processes.split(",").map(Number);
const config = loadConfig({
  ...Deno.env.toObject(),
  WORKERS: "0",
  BULK_CHUNK_SIZE: values.chunk,
  BULK_MAX_TARGETS: String(Math.max(n, 100_000)),
  LOG_LEVEL: "warn",
});
configureLog({ logLevel: "warn", logFormat: "text" });

const database = await openBenchDatabase(config, "scaling");
const db = createDb(database.url, { poolSize: 4 });
const rows: { processes: number; seconds: number; rate: number; shares: number[] }[] = [];
try {
  const viewer = await benchAdmin(db);
  await seedTickets(db, viewer.tenantId, n);
  for (const processes of counts) {
    await resetTickets(db, viewer.tenantId);
    const workers: WorkerProcess[] = [];
    try {
      const env = {
        DATABASE_URL: database.url,
        WORKERS: values.threads,
        BULK_CHUNK_SIZE: values.chunk,
      };
      workers.push(...await Promise.all(Array.from({ length: processes }, () => spawnWorker(env))));
      const { operation } = await startOperation(db, ticketsDomain, viewer, {
        actionType: "SET_STATUS",
        params: { status: "PENDING" },
        targets: { kind: "filter", filter: { status: ["OPEN"] } },
      }, config);
      const deadline = Date.now() + 30 * 60_000;
      let done;
      for (;;) {
        done = await db.selectFrom("bulk_operations")
          .select(["status", "succeeded", "total", "first_chunk_at", "finished_at"])
          .where("id", "=", operation.id).executeTakeFirstOrThrow();
        if (done.finished_at) break;
        if (Date.now() > deadline) throw new Error(`operation not finished after 30 minutes: ${JSON.stringify(done)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const seconds = (done.finished_at.getTime() - done.first_chunk_at!.getTime()) / 1000;
      const shares = await Promise.all(
        workers.map(async (w) => valueOf(await scrape(w.metricsUrl), "bulk_items_total")),
      );
      if (done.succeeded !== n) throw new Error(`expected ${n} items to succeed: ${JSON.stringify(done)}`);
      rows.push({ processes, seconds, rate: done.total / seconds, shares });
      console.log(`${processes} worker process(es): ${fmt(n)} items in ${seconds.toFixed(2)} s`);
    } finally {
      for (const worker of workers) worker.signal("SIGTERM");
      for (const worker of workers) await worker.stop();
    }
  }
} finally {
  await db.destroy();
  await database.stop();
}

console.log(`\nmachine: ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, ${Deno.build.target}`);
console.log(`tickets: ${fmt(n)}, chunk size: ${values.chunk}, threads per worker process: ${values.threads}\n`);
console.log("| worker processes | seconds | items/s | vs 1 process | items per process (from each /metrics) |");
console.log("| ---------------: | ------: | ------: | -----------: | -------------------------------------- |");
for (const row of rows) {
  const speedup = (row.rate / rows[0].rate).toFixed(2);
  const shares = row.shares.map(fmt).join(" / ");
  console.log(`| ${row.processes} | ${row.seconds.toFixed(2)} | ${fmt(row.rate)} | ${speedup} | ${shares} |`);
}
