/**
 * `deno run --allow-net --allow-env --allow-read --allow-write --allow-run --allow-sys bench/purge_bench.ts
 * [--tickets N] [--comments C] [--workers W] [--chunk K]`: prints
 * figures, asserts nothing. Seeds N tickets (default 100,000) with C comments each (default 2) into a
 * fresh database and runs, in the same run with the in-process worker pool, three operations over all
 * of them by ids, each from startOperation to its terminal state:
 *   (1) SET_PRIORITY (the reference: a field change with small images);
 *   (2) PURGE (tickets and comments deleted, each ticket's whole row and comments kept as its image);
 *   (3) its ROLLBACK (every row re-inserted from the images).
 * Prints items/s of each, the ratio to (1), and the peak RSS of this process during (2) and (3),
 * sampled every 20 ms (the workers are threads of this process). Uses DATABASE_URL when set, else an
 * embedded one.
 */
import { parseArgs } from "node:util";
import { sql } from "kysely";
import { rollbackOperation } from "../src/bulk/lineage.ts";
import type { OperationRow } from "../src/bulk/operation.ts";
import { startPool } from "../src/bulk/start-pool.ts";
import { type StartInput, startOperation } from "../src/bulk/start.ts";
import { loadConfig } from "../src/config.ts";
import { createDb } from "../src/db/database.ts";
import { configureLog } from "../src/log.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import { benchAdmin, openBenchDatabase } from "./bench_db.ts";
import { fmt } from "./bulk_table.ts";
import { resetTickets } from "./same_start.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: {
    tickets: { type: "string", default: "100000" },
    comments: { type: "string", default: "2" },
    workers: { type: "string" },
    chunk: { type: "string" },
  },
});
const n = Number(values.tickets);
const commentsPerTicket = Number(values.comments);
const config = loadConfig({
  ...Deno.env.toObject(),
  ...(values.workers && { WORKERS: values.workers }),
  ...(values.chunk && { BULK_CHUNK_SIZE: values.chunk }),
  BULK_MAX_TARGETS: String(Math.max(n, 100_000)),
  LOG_LEVEL: "warn",
});
configureLog({ logLevel: "warn", logFormat: "text" });
const rssMb = () => Deno.memoryUsage().rss / 1024 / 1024;

const database = await openBenchDatabase(config, "purge_bench");
try {
  const db = createDb(database.url, { poolSize: 4 });
  const viewer = await benchAdmin(db);
  let t = performance.now();
  await insertTickets(db, viewer.tenantId, n);
  await sql`INSERT INTO ticket_comments (tenant_id, ticket_id, author_id, body)
    SELECT t.tenant_id, t.id, ${viewer.userId}, 'Seeded comment ' || g || ' on ticket ' || t.id
    FROM tickets t, generate_series(1, ${commentsPerTicket}::int) AS g WHERE t.tenant_id = ${viewer.tenantId}`
    .execute(db);
  // All OPEN (resetTickets) and NORMAL: the reference changes every ticket.
  await sql`UPDATE tickets SET priority = 'NORMAL' WHERE tenant_id = ${viewer.tenantId}`.execute(db);
  await resetTickets(db, viewer.tenantId);
  const ids = (await db.selectFrom("tickets").select("id").where("tenant_id", "=", viewer.tenantId).orderBy("id")
    .execute()).map((row) => String(row.id));
  console.log(
    `seeded ${fmt(n)} tickets, ${commentsPerTicket} comments each, in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const pool = await startPool(config, database.url, db);
  let peak = 0;
  /** Runs one operation to its end; its items/s from the start request on. */
  const measure = async (name: string, begin: () => Promise<OperationRow>) => {
    peak = rssMb();
    t = performance.now();
    const { id } = await begin();
    for (;;) {
      const op = await db.selectFrom("bulk_operations").selectAll().where("id", "=", id)
        .executeTakeFirstOrThrow() as OperationRow;
      peak = Math.max(peak, rssMb());
      if (op.finished_at) {
        const seconds = (performance.now() - t) / 1000;
        if (op.succeeded !== n) throw new Error(`${name}: ${op.succeeded} of ${n} succeeded (${op.status})`);
        return { name, id, seconds, perSecond: n / seconds, peak };
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const start = async (input: Omit<StartInput, "targets">) =>
    (await startOperation(db, ticketsDomain, viewer, { ...input, targets: { kind: "ids", ids } }, config)).operation;

  const figures = [];
  try {
    figures.push(
      await measure("SET_PRIORITY", () => start({ actionType: "SET_PRIORITY", params: { priority: "URGENT" } })),
    );
    const purge = await measure("PURGE", () => start({ actionType: "PURGE", params: {} }));
    figures.push(purge);
    figures.push(
      await measure("ROLLBACK of PURGE", async () =>
        (await rollbackOperation(db, ticketsDomain, viewer, purge.id, {
          force: false,
          windowHours: config.rollbackWindowHours,
          limits: config,
        })).operation),
    );
  } finally {
    await pool.stop();
  }
  const { rows: [ledger] } = await sql<{ mb: number }>`SELECT (pg_total_relation_size('bulk_operation_items')
    / 1048576.0)::float8 AS mb`.execute(db);
  await db.destroy();

  console.log(`machine: ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, ${Deno.build.target}`);
  console.log(`workers ${config.workers}, chunks of ${config.chunkSize}`);
  const reference = figures[0];
  for (const figure of figures) {
    console.log(
      `${figure.name.padEnd(18)} ${fmt(Math.round(figure.perSecond)).padStart(8)} items/s  ` +
        `${(figure.perSecond / reference.perSecond).toFixed(2)}x  ${figure.seconds.toFixed(2)} s  ` +
        `peak RSS ${Math.round(figure.peak)} MB`,
    );
  }
  console.log(`ledger (bulk_operation_items) after the three: ${ledger.mb.toFixed(0)} MB`);
} finally {
  await database.stop();
}
