/**
 * `deno task bench [-- --tickets N] [--workers W] [--chunk C] [--scenarios a,b,c,d] [--json]`: prints
 * figures, asserts nothing. Seeds N tickets (default 100,000) into a fresh database (the project's
 * migrations) and makes the same change (OPEN -> PENDING, version + 1, updated_at) on the same tickets,
 * in the same run, four ways (bench/bulk_table.ts SCENARIOS), each with W workers and chunks of C:
 *   (a) the ceiling: ONE set-based UPDATE;
 *   (b) graphile-worker, one job per C tickets, one set-based UPDATE per job, no ledger;
 *   (c) graphile-worker, one job per C tickets, one CTE per job writing a per-item ledger with
 *       before/after images (b and c: bench/peers/graphile_worker.ts);
 *   (d) the engine: a SET_STATUS operation over the same tickets (targets: the filter
 *       status = OPEN frozen at start, as a real million-ticket change is given), from
 *       startOperation to its terminal state, worked by the in-process Web Worker pool; with it,
 *       the transaction of the chunk that finished it against the median chunk (finishing reads no
 *       item, so it should cost about one chunk), and a cancel: a second operation over the same
 *       tickets, cancelled once its first chunks committed (the cancel request, and the time until
 *       it is CANCELLED).
 * Every scenario starts from the same state: all tickets OPEN, dead tuples vacuumed, statistics fresh,
 * dirty pages checkpointed (bench/same_start.ts says why a reset and not one tenant per scenario).
 * Prints one table (items/s, ratio to the raw UPDATE, the engine's ratio to the ledger peer (c)) and
 * the peak of this process's RSS during (d), sampled every 20 ms (the workers are threads of this
 * process; /proc needs --allow-all, which we refuse). The peers run earlier in this process; what they
 * leave on its heap is counted in that peak. With --json, stdout is ONE JSON object of every figure
 * (bench/bulk_table.ts figuresJson) and everything else goes to stderr.
 * Uses DATABASE_URL when set, else an embedded one.
 */
import { parseArgs } from "node:util";
import { sql } from "kysely";
import { loadConfig } from "../src/config.ts";
import { createDb, createPool, type Db } from "../src/db/database.ts";
import { cancelOperation } from "../src/bulk/cancel.ts";
import type { OperationRow } from "../src/bulk/operation.ts";
import { startPool } from "../src/bulk/start-pool.ts";
import { startOperation } from "../src/bulk/start.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import { benchAdmin, openBenchDatabase } from "./bench_db.ts";
import { configureLog } from "../src/log.ts";
import { type BulkFigures, figuresJson, figuresTable, fmt, parseScenarios, type Timing } from "./bulk_table.ts";
import { createPeerLedger, runGraphileWorkerPeer } from "./peers/graphile_worker.ts";
import { resetTickets } from "./same_start.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"), // `deno task bench -- --tickets N` passes the "--" on
  options: {
    tickets: { type: "string", default: "100000" },
    workers: { type: "string" },
    chunk: { type: "string" },
    scenarios: { type: "string", default: "a,b,c,d" },
    json: { type: "boolean", default: false },
  },
});
const n = Number(values.tickets);
const scenarios = parseScenarios(values.scenarios);
if (typeof scenarios === "string") {
  console.error(`Error: ${scenarios}`);
  Deno.exit(2);
}
/** Human-readable lines: stdout, unless --json reserves stdout for the JSON object. */
const say = values.json ? console.error : console.log;
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

/** Current RSS of a process in MB, from ps (null once it is gone). */
async function processRssMb(pid: number): Promise<number | null> {
  const { stdout, success } = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] }).output();
  return success ? Number(new TextDecoder().decode(stdout).trim()) / 1024 : null;
}

/**
 * The waiting operation worked by `deno task worker` alone (this process runs no worker): its items, the
 * seconds from its first chunk to its end (the database's clock) and the peak RSS of that process,
 * sampled every 100 ms with ps.
 */
async function inWorkerProcess(db: Db, operationId: string): Promise<Timing & { peakRssMb: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "worker"],
    cwd: new URL("../", import.meta.url).pathname,
    env: {
      DATABASE_URL: url,
      WORKERS: String(config.workers),
      BULK_CHUNK_SIZE: String(config.chunkSize),
      METRICS_PORT: "0",
      LOG_LEVEL: "info",
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // `deno task` runs the worker as its own child: its pid is the one it logs when ready.
  const output = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let logged = "";
  let pid = NaN;
  while (Number.isNaN(pid)) {
    const { value, done } = await output.read();
    if (done) throw new Error(`deno task worker exited before it was ready:\n${logged}`);
    logged += value;
    pid = Number(/worker process (\d+) ready/.exec(logged)?.[1] ?? NaN);
  }
  (async () => {
    while (!(await output.read()).done); // drained, so the worker never blocks on a full pipe
  })();
  let peak = 0;
  for (;;) {
    const op = await db.selectFrom("bulk_operations").selectAll().where("id", "=", operationId)
      .executeTakeFirstOrThrow();
    peak = Math.max(peak, await processRssMb(pid) ?? 0);
    if (op.finished_at !== null) {
      Deno.kill(pid, "SIGTERM");
      await child.status;
      const seconds = (op.finished_at.getTime() - op.first_chunk_at!.getTime()) / 1000;
      return { items: op.succeeded, seconds, peakRssMb: peak };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const database = await openBenchDatabase(config, "bench");
const url = database.url;
try {
  const db = createDb(url, { poolSize: 4 });
  const viewer = await benchAdmin(db);
  const tenant = { id: viewer.tenantId };
  let t = performance.now();
  await insertTickets(db, tenant.id, n);
  await resetTickets(db, tenant.id);
  const figures: BulkFigures = {
    tickets: n,
    workers: config.workers,
    chunkSize: config.chunkSize,
    seedSeconds: (performance.now() - t) / 1000,
  };
  say(`seeded ${fmt(n)} tickets in ${figures.seedSeconds.toFixed(1)} s`);
  /** A scenario that changed another number of tickets than seeded measured something else: stop. */
  const expectAll = (scenario: string, items: number) => {
    if (items !== n) throw new Error(`scenario ${scenario} changed ${fmt(items)} of ${fmt(n)} tickets`);
  };

  if (scenarios.has("a")) {
    t = performance.now();
    const { numAffectedRows } = await sql`
      UPDATE tickets SET status = 'PENDING', version = version + 1, updated_at = now()
      WHERE tenant_id = ${tenant.id} AND status = 'OPEN'`.execute(db);
    figures.raw = { items: Number(numAffectedRows), seconds: (performance.now() - t) / 1000 };
    expectAll("a", figures.raw.items);
    await resetTickets(db, tenant.id);
  }

  if (scenarios.has("b") || scenarios.has("c")) {
    // graphile-worker's workers, its LISTEN connection, its job adder and the bench's polling.
    const peerPool = createPool(url, { poolSize: config.workers + 3, applicationName: "bench-peer" });
    try {
      await createPeerLedger(peerPool);
      for (const [name, ledger] of [["b", false], ["c", true]] as const) {
        if (!scenarios.has(name)) continue;
        const peer = await runGraphileWorkerPeer(peerPool, {
          tenantId: tenant.id,
          ledger,
          concurrency: config.workers,
          chunkSize: config.chunkSize,
        });
        expectAll(name, peer.items);
        figures[ledger ? "gwLedger" : "gwNoLedger"] = peer;
        await resetTickets(db, tenant.id);
      }
    } finally {
      await peerPool.end();
    }
  }

  // (d) the engine, then the end of its operation and a cancel of a second one
  if (scenarios.has("d")) {
    const pool = await startPool(config, url, db);
    const chunkMs = new Map<string, number[]>();
    const finishingMs = new Map<string, number>();
    pool.on("chunk", (chunk) => {
      if (chunk.items > 0) chunkMs.set(chunk.operationId, [...chunkMs.get(chunk.operationId) ?? [], chunk.ms]);
      if (chunk.finished) finishingMs.set(chunk.operationId, chunk.ms);
    });
    const setStatus = (from: string, to: string) =>
      startOperation(db, ticketsDomain, viewer, {
        actionType: "SET_STATUS",
        params: { status: to },
        targets: { kind: "filter", filter: { status: [from] } },
      }, config);
    let peak = rssMb();
    /** Polls every 20 ms until `done`, sampling the RSS. */
    const until = async (id: string, done: (op: OperationRow) => boolean): Promise<OperationRow> => {
      for (;;) {
        const op = await db.selectFrom("bulk_operations").selectAll().where("id", "=", id)
          .executeTakeFirstOrThrow();
        peak = Math.max(peak, rssMb());
        if (done(op)) return op;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const oldest = (await db.selectFrom("tickets").select("id").where("tenant_id", "=", tenant.id).orderBy("id")
      .limit(10).execute()).map((row) => String(row.id));
    t = performance.now();
    const { operation } = await setStatus("OPEN", "PENDING");
    const startMs = performance.now() - t;
    // Fairness: a 10-item operation started once the big one's first chunks committed (its tickets
    // are the oldest, which the big one, newest first, reaches last) finishes within about a chunk.
    await until(operation.id, (op) => op.succeeded >= config.chunkSize * Math.max(1, config.workers));
    const smallStarted = performance.now();
    const { operation: small } = await startOperation(db, ticketsDomain, viewer, {
      actionType: "SET_PRIORITY",
      params: { priority: "URGENT" },
      targets: { kind: "ids", ids: oldest },
    }, config);
    await until(small.id, (op) => op.finished_at !== null);
    const smallDuringBigMs = performance.now() - smallStarted;
    const last = await until(operation.id, (op) => op.finished_at !== null);
    const engineS = (performance.now() - t) / 1000;
    const chunks = [...chunkMs.get(operation.id) ?? []].sort((a, b) => a - b);

    const { operation: second } = await setStatus("PENDING", "OPEN");
    await until(second.id, (op) => op.succeeded >= config.chunkSize * Math.max(1, config.workers));
    t = performance.now();
    const cancel = await cancelOperation(db, ticketsDomain, viewer, second.id);
    const cancelRequestMs = performance.now() - t;
    if (!cancel.ok) throw new Error(`cancel refused: ${cancel.message}`);
    const cancelled = await until(second.id, (op) => op.finished_at !== null);
    const cancelS = (performance.now() - t) / 1000;
    await pool.stop();
    await resetTickets(db, tenant.id);
    figures.workerProcess = await inWorkerProcess(db, (await setStatus("OPEN", "PENDING")).operation.id);
    expectAll("d (worker process)", figures.workerProcess.items);
    figures.engine = {
      items: last.succeeded,
      seconds: engineS,
      startMs,
      peakRssMb: peak,
      status: last.status,
      finishingChunkMs: finishingMs.get(operation.id) ?? NaN,
      medianChunkMs: chunks[Math.floor(chunks.length / 2)] ?? NaN,
      chunks: chunks.length,
      smallDuringBigMs,
      cancel: {
        total: second.total,
        appliedBefore: cancel.operation.succeeded,
        requestMs: cancelRequestMs,
        requestStatus: cancel.operation.status,
        untilCancelledS: cancelS,
        cancelledItems: cancelled.cancelled,
        status: cancelled.status,
      },
    };
  }
  await db.destroy();

  say(`machine: ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, ${Deno.build.target}`);
  for (const line of figuresTable(figures)) say(line);
  if (values.json) console.log(JSON.stringify(figuresJson(figures)));
} finally {
  await database.stop();
}
