/**
 * The API's figures (issues 4 and 18): prints them, asserts nothing. Run by `deno task bench` after
 * bench/bulk_bench.ts, or alone:
 *   deno run --allow-net --allow-env --allow-read --allow-write --allow-run --allow-sys bench/api_bench.ts \
 *     [--ids 10000] [--runs 30] [--subscribers 100] [--event-tickets 50000] [--client-processes 1] \
 *     [--filter-tickets 0] [--filter-runs 5] [--json]
 * The real app (src/app.ts startApp) over a fresh embedded PostgreSQL (or DATABASE_URL), and
 * real clients only (fetch, graphql-ws createClient over sockets). With --json, stdout is ONE JSON
 * object of every figure (stable names, `null` for a part not run); the lines for people go to stderr.
 *
 * (a) startBulkOperation latency over HTTP with `--ids` explicit ticket ids: wall time from
 *     the fetch to the parsed response, `--runs` times after 3 warm-ups, p50 / p95. The app
 *     runs with WORKERS=0 here so that the request is measured alone (the workers of the
 *     2-core machine would otherwise be working the previous runs' items meanwhile).
 *
 * (b) progress-event latency from commit to client with `--subscribers` concurrent graphql-ws
 *     clients on ONE running operation (the app now with its worker pool). The clients run in
 *     `--client-processes` processes of their own (bench/fanout_clients.ts), not on the server's
 *     event loop: in this process, their parsing was part of the latency they measured. Method: a
 *     trigger created by this bench (nothing in the schema) records clock_timestamp() at every UPDATE
 *     of the operation's row, with the counts and status it wrote, in a side table. Each
 *     chunk's counter UPDATE (which also sends the NOTIFY) is the last statement of its transaction
 *     but for the end of the operation and COMMIT, about a millisecond, so that time is the commit time
 *     to within ~1 ms (the figures slightly overstate the latency). Every event a subscriber
 *     receives carries counts + status; latency = receive time (wall clock,
 *     performance.timeOrigin + performance.now(), in the client process) - the time of the latest
 *     UPDATE that wrote exactly that state. The first event of each subscriber (the snapshot of a state
 *     committed before it subscribed) is not counted. The operation is held
 *     at its first chunks by row locks until all subscribers have their snapshot, then
 *     released, so every subscriber sees the whole run. Per state, the latency splits into the
 *     first subscriber's (the coalescing window, the read, one send) and the spread from the first
 *     to the last subscriber (the fan-out). Since the latencies depend on the load of a shared
 *     machine, the run also prints the CPU per event of the server process (API and worker threads),
 *     of its main thread alone (the event loop: the front door, HTTP, WebSockets, the fan-out; from
 *     /proc on Linux), and of the client processes, and the GraphQL executions of events per event
 *     (graphql_subscription_event_executions_total), which depend far less on it.
 *
 * (c) with `--filter-tickets N` (0, the default: not run): startBulkOperation over a filter that
 *     matches N tickets of a fresh tenant, over HTTP, `--filter-runs` times; wall time from the fetch
 *     to the parsed response, p50 / max. WORKERS=0 (the start alone is measured), and every run
 *     starts from the same state: the operation tables are emptied (TRUNCATE) and vacuumed between
 *     runs, so each start freezes the N targets into an empty ledger, as the first start of the day.
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { sql } from "kysely";
import pg from "pg";
import { startApp } from "../src/app.ts";
import { mintToken } from "../src/auth/tokens.ts";
import { loadConfig } from "../src/config.ts";
import { createDb, type Db } from "../src/db/database.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { encodeId } from "../src/graphql/ids.ts";
import { configureLog } from "../src/log.ts";
import { registry } from "../src/metrics/registry.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import type { FanoutClientsInput, FanoutClientsLine, Receipt } from "./fanout_clients.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: {
    ids: { type: "string", default: "10000" },
    runs: { type: "string", default: "30" },
    subscribers: { type: "string", default: "100" },
    "event-tickets": { type: "string", default: "50000" },
    "client-processes": { type: "string", default: "1" },
    "filter-tickets": { type: "string", default: "0" },
    "filter-runs": { type: "string", default: "5" },
    json: { type: "boolean", default: false },
  },
});
const ID_COUNT = Number(values.ids);
const RUNS = Number(values.runs);
const SUBSCRIBERS = Number(values.subscribers);
const EVENT_TICKETS = Number(values["event-tickets"]);
const CLIENT_PROCESSES = Math.max(1, Math.min(SUBSCRIBERS, Number(values["client-processes"])));
const FILTER_TICKETS = Number(values["filter-tickets"]);
const FILTER_RUNS = Number(values["filter-runs"]);
const WARMUP = 3;

const env = Deno.env.toObject();
configureLog({ logLevel: "warn", logFormat: "text" });
/** Lines for people: stdout, unless --json reserves stdout for the JSON object. */
const say = values.json ? console.error : console.log;
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
const round = (x: number | null, digits = 1) => x === null ? null : Number(x.toFixed(digits));
/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const loadAverage = () => Deno.loadavg()[0];
/** graphql_subscription_event_executions_total of this process (null where the metric does not exist). */
async function eventExecutions(): Promise<number | null> {
  const metric = registry.getSingleMetric("graphql_subscription_event_executions_total");
  return metric ? (await metric.get()).values.reduce((sum, value) => sum + value.value, 0) : null;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ), or null off Linux. */
async function clockTicks(): Promise<number | null> {
  if (Deno.build.os !== "linux") return null;
  const { stdout, success } = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).output();
  return success ? Number(new TextDecoder().decode(stdout).trim()) : null;
}
const TICKS = await clockTicks();
/**
 * CPU ms (user + system) of this process's main thread, the one running the event loop; null off Linux.
 * Read by `cat`: Deno asks for --allow-all to read /proc of its own process.
 */
async function mainThreadCpuMs(): Promise<number | null> {
  if (TICKS === null) return null;
  const { stdout, success } = await new Deno.Command("cat", {
    args: [`/proc/${Deno.pid}/task/${Deno.pid}/stat`],
    stdout: "piped",
  }).output();
  if (!success) return null;
  const stat = new TextDecoder().decode(stdout);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // from field 3 (state) on
  return ((Number(fields[11]) + Number(fields[12])) / TICKS) * 1000; // fields 14 utime, 15 stime
}

/** The JSON figures (stable names; `null` for a part that was not run). */
const figures: Record<string, number | string | null> = {
  machine_cores: navigator.hardwareConcurrency,
  deno: Deno.version.deno,
  start_ids: ID_COUNT,
  start_ids_runs: RUNS,
  start_ids_p50_ms: null,
  start_ids_p95_ms: null,
  start_ids_load_avg: null,
  fanout_subscribers: SUBSCRIBERS,
  fanout_client_processes: CLIENT_PROCESSES,
  fanout_items: EVENT_TICKETS,
  fanout_events_min: null,
  fanout_events_max: null,
  fanout_samples: null,
  fanout_unmatched: null,
  fanout_p50_ms: null,
  fanout_p99_ms: null,
  fanout_max_ms: null,
  fanout_first_p50_ms: null,
  fanout_first_max_ms: null,
  fanout_spread_p50_ms: null,
  fanout_spread_max_ms: null,
  fanout_server_cpu_ms_per_event: null,
  fanout_main_thread_cpu_ms_per_event: null,
  fanout_clients_cpu_ms_per_event: null,
  fanout_executions_per_event: null,
  fanout_load_avg: null,
  start_filter_tickets: FILTER_TICKETS,
  start_filter_runs: FILTER_TICKETS > 0 ? FILTER_RUNS : null,
  start_filter_p50_ms: null,
  start_filter_max_ms: null,
  start_filter_load_avg: null,
};

const embedded = env.DATABASE_URL ? null : await startEmbedded({
  dataDir: `.test-data/api-bench-${Deno.pid}`,
  port: 55000 + (Deno.pid % 1000),
  ephemeral: true,
});
const url = env.DATABASE_URL ?? embedded!.databaseUrl("api_bench");
if (embedded) await embedded.createDatabase("api_bench");

const START = `mutation Start($input: StartBulkOperationInput!) {
  startBulkOperation(input: $input) { bulkOperation { id status counts { total } } userErrors { code message } }
}`;
const PROGRESS = `subscription Progress($id: ID!) {
  bulkOperationProgress(id: $id) { id status counts { total processed succeeded failed skipped cancelled } }
}`;

/** A fresh tenant with one ADMIN user and its token. */
async function newTenant(db: Db, name: string): Promise<{ tenantId: string; token: string }> {
  const tenant = await db.insertInto("tenants").values({ name: `${name} ${Date.now()}` }).returning("id")
    .executeTakeFirstOrThrow();
  const user = await db.insertInto("users").values({
    tenant_id: tenant.id,
    email: `api-bench-${crypto.randomUUID()}@bench.test`,
    name: "API Bench",
    role: "ADMIN",
  }).returning("id").executeTakeFirstOrThrow();
  return { tenantId: tenant.id, token: await mintToken(db, user.id, name) };
}

/** One startBulkOperation over HTTP: its wall time (fetch to parsed response), its id and total. */
async function timedStart(
  appUrl: string,
  token: string,
  body: string,
): Promise<{ ms: number; id: string; total: number }> {
  const t0 = performance.now();
  const response = await fetch(`${appUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body,
  });
  const result = await response.json();
  const ms = performance.now() - t0;
  const payload = result.data?.startBulkOperation;
  if (!payload?.bulkOperation || payload.userErrors.length > 0) {
    throw new Error(`start failed: ${JSON.stringify(result)}`);
  }
  return { ms, id: payload.bulkOperation.id, total: payload.bulkOperation.counts.total };
}

/** Every operation of every tenant gone, so that the next part starts from empty operation tables. */
async function emptyOperations(db: Db): Promise<void> {
  await sql`TRUNCATE bulk_jobs, bulk_operation_events, bulk_operation_items, bulk_operations CASCADE`.execute(db);
  await sql`VACUUM ANALYZE bulk_operation_items`.execute(db);
}

/** The subscribers' processes (bench/fanout_clients.ts): each reports its lines on stdout. */
class ClientProcess {
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  #buffered = "";

  constructor(input: FanoutClientsInput) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env=NODE_ENV",
        new URL("./fanout_clients.ts", import.meta.url).pathname,
        JSON.stringify(input),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line; a failure or an early exit of the clients is thrown. */
  async next(): Promise<FanoutClientsLine> {
    for (;;) {
      const end = this.#buffered.indexOf("\n");
      if (end >= 0) {
        const line: FanoutClientsLine = JSON.parse(this.#buffered.slice(0, end));
        this.#buffered = this.#buffered.slice(end + 1);
        if (line.type === "error") throw new Error(`fanout clients: ${line.message}`);
        return line;
      }
      const { value, done } = await this.#lines.read();
      if (done) throw new Error(`fanout clients exited (${(await this.#child.status).code}) before reporting`);
      this.#buffered += value;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#lines.cancel().catch(() => {});
    try {
      this.#child.kill();
    } catch {
      // already exited
    }
    await this.#child.status;
  }
}

try {
  await migrate(url);
  const db = createDb(url, { poolSize: 4, applicationName: "api bench" });
  const { tenantId, token } = await newTenant(db, "api bench");
  const ticketCount = Math.max(ID_COUNT, EVENT_TICKETS);
  const t = performance.now();
  await insertTickets(db, tenantId, ticketCount);
  await sql`UPDATE tickets SET status = 'OPEN' WHERE tenant_id = ${tenantId}`.execute(db);
  await sql`VACUUM ANALYZE tickets`.execute(db);
  say(`seeded ${fmt(ticketCount)} tickets in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const ticketIds = (await db.selectFrom("tickets").select("id").where("tenant_id", "=", tenantId).orderBy("id")
    .execute()).map((r) => String(r.id));
  const baseConfig = {
    ...env,
    PORT: "0",
    DATABASE_URL: url,
    LOG_LEVEL: "warn",
    BULK_MAX_TARGETS: String(Math.max(ticketCount, FILTER_TICKETS, 100_000)),
    // Every subscriber is a socket of one token: the per-token caps (issue 15) would refuse all but 8.
    WS_MAX_SOCKETS_PER_TOKEN: String(Math.max(SUBSCRIBERS, 8)),
    GRAPHQL_COST_BUCKET_SIZE: "100000000",
    // (a) starts WARMUP + RUNS operations within a minute: above the default start caps (issue 15) on purpose.
    BULK_MAX_STARTS_PER_MINUTE: "100000",
    BULK_MAX_WAITING_PER_USER: "100000",
  };

  // ---- (a) startBulkOperation latency ------------------------------------------------------
  {
    const config = loadConfig({ ...baseConfig, WORKERS: "0", BULK_MAX_ACTIVE_PER_USER: "1000" });
    const app = await startApp(config, url);
    const input = {
      targets: { ids: ticketIds.slice(0, ID_COUNT).map((id) => encodeId("Ticket", id)) },
      action: { setPriority: { priority: "HIGH" } },
    };
    const body = JSON.stringify({ query: START, variables: { input } });
    const samples: number[] = [];
    const load = loadAverage();
    for (let run = 0; run < WARMUP + RUNS; run++) {
      const { ms, total } = await timedStart(app.url, token, body);
      if (total !== ID_COUNT) throw new Error(`unexpected total ${total}`);
      if (run >= WARMUP) samples.push(ms);
    }
    await app.stop();
    say(`request body: ${(body.length / 1024).toFixed(0)} KiB`);
    say(
      `(a) startBulkOperation, ${fmt(ID_COUNT)} explicit ids, ${RUNS} runs after ${WARMUP} warm-ups: ` +
        `p50 ${percentile(samples, 50).toFixed(0)} ms, p95 ${percentile(samples, 95).toFixed(0)} ms ` +
        `(min ${Math.min(...samples).toFixed(0)}, max ${Math.max(...samples).toFixed(0)}) [target p50 <= 60 ms]; ` +
        `load average ${load.toFixed(2)}`,
    );
    Object.assign(figures, {
      start_ids_p50_ms: round(percentile(samples, 50)),
      start_ids_p95_ms: round(percentile(samples, 95)),
      start_ids_load_avg: round(load, 2),
    });
    // Nothing of phase (a) may run in phase (b).
    await emptyOperations(db);
  }

  // ---- (b) progress-event latency, commit to client ----------------------------------------
  if (SUBSCRIBERS > 0) {
    await sql`CREATE TABLE IF NOT EXISTS bench_commit_times (
      operation_id uuid NOT NULL, processed integer NOT NULL, status text NOT NULL, at timestamptz NOT NULL)`
      .execute(db);
    await sql`CREATE OR REPLACE FUNCTION bench_record_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO bench_commit_times
        VALUES (NEW.id, NEW.succeeded + NEW.failed + NEW.skipped + NEW.cancelled, NEW.status, clock_timestamp());
        RETURN NULL;
      END $$`.execute(db);
    await sql`CREATE OR REPLACE TRIGGER bench_commit_time AFTER UPDATE ON bulk_operations
      FOR EACH ROW EXECUTE FUNCTION bench_record_commit()`.execute(db);

    const config = loadConfig(baseConfig);
    const app = await startApp(config, url);
    const wsUrl = `${app.url.replace("http", "ws")}/graphql`;
    const targets = ticketIds.slice(0, EVENT_TICKETS);
    // Hold the operation at its first chunks (one locked ticket per chunk a worker could claim).
    const locker = new pg.Client({ connectionString: url, application_name: "api bench gate" });
    await locker.connect();
    await locker.query("BEGIN");
    const gated = Array.from({ length: config.workers + 1 }, (_, k) => targets[k * config.chunkSize])
      .filter((id) => id !== undefined);
    await locker.query("SELECT id FROM tickets WHERE id = ANY($1::bigint[]) FOR UPDATE", [gated]);

    const started = await timedStart(
      app.url,
      token,
      JSON.stringify({
        query: START,
        variables: {
          input: {
            targets: { ids: targets.map((id) => encodeId("Ticket", id)) },
            action: { setStatus: { status: "PENDING" } },
          },
        },
      }),
    );
    const opId = started.id;
    const opUuid = atob(opId.replaceAll("-", "+").replaceAll("_", "/")).slice("BulkOperation:".length);

    const t0 = performance.now();
    await using clientsGroup = new AsyncDisposableStack();
    const processes = Array.from({ length: CLIENT_PROCESSES }, (_, k) => {
      const count = Math.floor(SUBSCRIBERS / CLIENT_PROCESSES) + (k < SUBSCRIBERS % CLIENT_PROCESSES ? 1 : 0);
      return clientsGroup.use(new ClientProcess({ url: wsUrl, token, operationId: opId, query: PROGRESS, count }));
    });
    const expect = async (process: ClientProcess, type: FanoutClientsLine["type"]) => {
      const line = await process.next();
      if (line.type !== type) throw new Error(`fanout clients: expected "${type}", got "${line.type}"`);
      return line;
    };
    await Promise.all(processes.map((process) => expect(process, "subscribed")));
    const subscribeMs = performance.now() - t0;
    const executionsBefore = await eventExecutions();
    const cpuBefore = cpuUsage();
    const mainBefore = await mainThreadCpuMs();
    const load = loadAverage();
    await locker.query("COMMIT");
    await locker.end();
    const runStart = performance.now();
    const done = await Promise.all(processes.map((process) => expect(process, "done")));
    const runMs = performance.now() - runStart;
    const cpu = cpuUsage(cpuBefore);
    const mainAfter = await mainThreadCpuMs();
    const executions = await eventExecutions();
    await app.stop();

    const received: Receipt[][] = done.flatMap((line) => line.type === "done" ? line.received : []);
    const clientsCpuMs = done.reduce((sum, line) => sum + (line.type === "done" ? line.cpuMs : 0), 0);
    const { rows: commits } = await sql<{ processed: number; status: string; micros: string }>`
      SELECT processed, status, (extract(epoch FROM at) * 1000000)::bigint::text AS micros
      FROM bench_commit_times WHERE operation_id = ${opUuid} ORDER BY at`.execute(db);
    const stateKey = (processed: number, status: string) => `${processed}/${status}`;
    const commitTime = new Map<string, number>();
    for (const c of commits) commitTime.set(stateKey(c.processed, c.status), Number(c.micros) / 1000); // latest wins
    const latencies: number[] = [];
    /** Per delivered state: the first and the last receive time over all subscribers. */
    const receiptsOfState = new Map<string, { committed: number; first: number; last: number }>();
    let unmatched = 0;
    for (const events of received) {
      for (const [at, processed, status] of events.slice(1)) {
        const key = stateKey(processed, status);
        const committed = commitTime.get(key);
        if (committed === undefined) {
          unmatched++;
          continue;
        }
        latencies.push(at - committed);
        const state = receiptsOfState.get(key) ?? { committed, first: at, last: at };
        state.first = Math.min(state.first, at);
        state.last = Math.max(state.last, at);
        receiptsOfState.set(key, state);
      }
    }
    const states = [...receiptsOfState.values()];
    const firstLatencies = states.map((s) => s.first - s.committed);
    const spreads = states.map((s) => s.last - s.first);
    const [, finalProcessed, finalStatus] = received[0].at(-1)!;
    const perSubscriber = received.map((events) => events.length);
    say(
      `(b) ${SUBSCRIBERS} graphql-ws subscribers (${CLIENT_PROCESSES} client process(es)) on one ` +
        `${fmt(EVENT_TICKETS)}-item SET_STATUS operation (${config.workers} workers, chunk ${config.chunkSize}): ` +
        `subscribed in ${fmt(subscribeMs)} ms; run ${(runMs / 1000).toFixed(2)} s, ${commits.length} row updates, ` +
        `${finalStatus} ${fmt(finalProcessed)}; load average ${load.toFixed(2)}`,
    );
    say(
      `    events per subscriber: min ${Math.min(...perSubscriber)}, max ${Math.max(...perSubscriber)} ` +
        `(incl. the snapshot); ${fmt(latencies.length)} latency samples, ${unmatched} unmatched`,
    );
    say(
      `    commit -> client latency: p50 ${percentile(latencies, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms ` +
        `[target p99 < 100 ms]`,
    );
    say(
      `    per state (${states.length}): commit -> first subscriber p50 ${
        percentile(firstLatencies, 50).toFixed(1)
      } ms, ` +
        `max ${Math.max(...firstLatencies).toFixed(1)} ms; first -> last subscriber p50 ` +
        `${percentile(spreads, 50).toFixed(1)} ms, max ${Math.max(...spreads).toFixed(1)} ms`,
    );
    // Less sensitive to a shared machine's load than the latencies: the work itself.
    const events = Math.max(...perSubscriber) - 1;
    const serverCpuMs = (cpu.user + cpu.system) / 1000;
    const mainCpuMs = mainBefore === null || mainAfter === null ? null : mainAfter - mainBefore;
    const executionCount = executions === null || executionsBefore === null ? null : executions - executionsBefore;
    say(
      `    CPU per event: server process (API + ${config.workers} worker threads) ${
        (serverCpuMs / events).toFixed(1)
      } ms` +
        (mainCpuMs === null ? "" : `, of it the main thread ${(mainCpuMs / events).toFixed(1)} ms`) +
        `; client process(es) ${(clientsCpuMs / events).toFixed(1)} ms; GraphQL executions of events: ` +
        (executionCount === null
          ? "not counted"
          : `${fmt(executionCount)} (${(executionCount / events).toFixed(1)} per event)`),
    );
    Object.assign(figures, {
      fanout_events_min: Math.min(...perSubscriber),
      fanout_events_max: Math.max(...perSubscriber),
      fanout_samples: latencies.length,
      fanout_unmatched: unmatched,
      fanout_p50_ms: round(percentile(latencies, 50)),
      fanout_p99_ms: round(percentile(latencies, 99)),
      fanout_max_ms: round(Math.max(...latencies)),
      fanout_first_p50_ms: round(percentile(firstLatencies, 50)),
      fanout_first_max_ms: round(Math.max(...firstLatencies)),
      fanout_spread_p50_ms: round(percentile(spreads, 50)),
      fanout_spread_max_ms: round(Math.max(...spreads)),
      fanout_server_cpu_ms_per_event: round(serverCpuMs / events),
      fanout_main_thread_cpu_ms_per_event: mainCpuMs === null ? null : round(mainCpuMs / events),
      fanout_clients_cpu_ms_per_event: round(clientsCpuMs / events),
      fanout_executions_per_event: executionCount === null ? null : round(executionCount / events, 2),
      fanout_load_avg: round(load, 2),
    });
    await sql`DROP TRIGGER bench_commit_time ON bulk_operations`.execute(db);
  }

  // ---- (c) startBulkOperation over a filter of N tickets -----------------------------------
  if (FILTER_TICKETS > 0) {
    await emptyOperations(db);
    const filterTenant = await newTenant(db, "api bench filter");
    const seeded = performance.now();
    await insertTickets(db, filterTenant.tenantId, FILTER_TICKETS);
    await sql`VACUUM ANALYZE tickets`.execute(db);
    say(`seeded ${fmt(FILTER_TICKETS)} tickets in ${((performance.now() - seeded) / 1000).toFixed(1)} s`);
    const config = loadConfig({ ...baseConfig, WORKERS: "0" });
    const app = await startApp(config, url);
    // Every ticket of the tenant (an empty filter matches all of them but the soft-deleted, none here).
    const body = JSON.stringify({
      query: START,
      variables: { input: { targets: { filter: {} }, action: { setPriority: { priority: "HIGH" } } } },
    });
    const samples: number[] = [];
    const load = loadAverage();
    for (let run = 0; run < FILTER_RUNS; run++) {
      const { ms, total } = await timedStart(app.url, filterTenant.token, body);
      if (total !== FILTER_TICKETS) throw new Error(`the filter matched ${total}, not ${FILTER_TICKETS}`);
      samples.push(ms);
      await emptyOperations(db);
    }
    await app.stop();
    say(
      `(c) startBulkOperation over a filter of ${fmt(FILTER_TICKETS)} tickets, ${FILTER_RUNS} runs: ` +
        `p50 ${percentile(samples, 50).toFixed(0)} ms, max ${Math.max(...samples).toFixed(0)} ms ` +
        `(${samples.map((ms) => ms.toFixed(0)).join(", ")}) [target at 1,000,000: <= 1,500 ms]; ` +
        `load average ${load.toFixed(2)}`,
    );
    Object.assign(figures, {
      start_filter_p50_ms: round(percentile(samples, 50)),
      start_filter_max_ms: round(Math.max(...samples)),
      start_filter_load_avg: round(load, 2),
    });
  }
  say(`machine: ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, ${Deno.build.target}`);
  if (values.json) console.log(JSON.stringify(figures));
  await db.destroy();
} catch (error) {
  // Said before the database stops: its connections' errors would otherwise be all that shows.
  console.error(error);
  throw error;
} finally {
  await embedded?.stop();
}
