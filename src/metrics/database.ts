/**
 * Gauges read at scrape time: the queue and admission state from the database (the same on
 * every process: aggregate them with max(), not sum()), and this process's connection pools.
 *
 * One round trip per scrape, each count served by an index: ready / waiting jobs and the
 * oldest ready job by bulk_jobs_unlocked_run_at_idx (run_at) WHERE locked_by IS NULL, running
 * jobs by bulk_jobs_lease_idx, waiting operations by bulk_operations_waiting_idx, live
 * workers by bulk_workers_expires_idx, pending deliveries by notification_deliveries_due_idx. The queue holds one row per chunk in flight, so even a
 * 1,000,000-item operation adds only 500 rows to count.
 */
import { sql } from "kysely";
import type pg from "pg";
import { Gauge } from "prom-client";
import type { Db } from "../db/database.ts";
import { log } from "../log.ts";
import { registry } from "./registry.ts";

interface QueueSnapshot {
  ready: number;
  running: number;
  waiting: number;
  oldest_ready_s: number | null;
  queued: number;
  scheduled: number;
  workers: number;
  webhooks_pending: number;
  emails_pending: number;
}

let source: Db | null = null;
let inflight: Promise<QueueSnapshot | null> | null = null;

/** Makes `db` the source of the queue gauges (one per process: the API's or the worker's); returns the undo. */
export function observeDatabase(db: Db): () => void {
  source = db;
  return () => {
    if (source === db) source = null;
  };
}

async function readQueue(db: Db): Promise<QueueSnapshot> {
  const { rows } = await sql<QueueSnapshot>`
    WITH waiting_operations AS (
      -- The predicate of bulk_operations_waiting_idx, so one scan of that partial index counts both.
      SELECT count(*) FILTER (WHERE status = 'QUEUED')::int AS queued,
             count(*) FILTER (WHERE status = 'SCHEDULED')::int AS scheduled
      FROM bulk_operations WHERE status IN ('SCHEDULED', 'QUEUED')),
    pending_deliveries AS (
      -- notification_deliveries_due_idx's predicate: the outbox's backlog, small unless receivers are down.
      SELECT count(*) FILTER (WHERE channel = 'WEBHOOK')::int AS webhooks_pending,
             count(*) FILTER (WHERE channel = 'EMAIL')::int AS emails_pending
      FROM notification_deliveries WHERE status = 'PENDING')
    SELECT
      (SELECT count(*) FROM bulk_jobs WHERE locked_by IS NULL AND run_at <= now())::int AS ready,
      (SELECT count(*) FROM bulk_jobs WHERE locked_by IS NOT NULL)::int AS running,
      (SELECT count(*) FROM bulk_jobs WHERE locked_by IS NULL AND run_at > now())::int AS waiting,
      (SELECT extract(epoch FROM now() - min(run_at))::float8 FROM bulk_jobs
        WHERE locked_by IS NULL AND run_at <= now()) AS oldest_ready_s,
      queued, scheduled,
      (SELECT count(*) FROM bulk_workers WHERE expires_at > now())::int AS workers,
      webhooks_pending, emails_pending
    FROM waiting_operations, pending_deliveries`.execute(db);
  return rows[0];
}

/**
 * One query per scrape however many gauges ask: prom-client collects them concurrently. Null
 * when there is no database to read or it cannot be read: the gauges then expose no series
 * (not their last values), and the rest of /metrics (this process's counters, which tell
 * what happened during an outage) is still served.
 */
function snapshot(): Promise<QueueSnapshot | null> {
  const db = source;
  if (!db) return Promise.resolve(null);
  inflight ??= readQueue(db)
    .catch((error): null => {
      log.warn("metrics", `queue gauges skipped: ${error instanceof Error ? error.message : String(error)}`);
      return null;
    })
    .finally(() => (inflight = null));
  return inflight;
}

new Gauge({
  name: "db_up",
  help: "1 when this scrape read the queue gauges from PostgreSQL, 0 when it could not (they are then absent or 0).",
  registers: [registry],
  async collect() {
    this.set((await snapshot()) ? 1 : 0);
  },
});

new Gauge({
  name: "bulk_queue_jobs",
  help:
    "Jobs (chunks) in the queue by state: ready (claimable now), running (leased), waiting (retry backoff or admission).",
  labelNames: ["state"] as const,
  registers: [registry],
  async collect() {
    this.reset();
    const queue = await snapshot();
    if (!queue) return;
    for (const state of ["ready", "running", "waiting"] as const) this.set({ state }, queue[state]);
  },
});

new Gauge({
  name: "bulk_queue_oldest_ready_job_age_seconds",
  help: "How long the oldest claimable job has waited for a worker (0 when none is ready).",
  registers: [registry],
  async collect() {
    this.reset();
    const queue = await snapshot();
    if (queue) this.set(Math.max(0, queue.oldest_ready_s ?? 0));
  },
});

new Gauge({
  name: "bulk_admission_queue_operations",
  help: "Operations waiting for admission: QUEUED (behind the per-user limit) or SCHEDULED (for later).",
  labelNames: ["status"] as const,
  registers: [registry],
  async collect() {
    this.reset();
    const queue = await snapshot();
    if (!queue) return;
    this.set({ status: "QUEUED" }, queue.queued);
    this.set({ status: "SCHEDULED" }, queue.scheduled);
  },
});

new Gauge({
  name: "bulk_workers_alive",
  help: "Registered worker threads whose heartbeat has not expired (all processes, from the database).",
  registers: [registry],
  async collect() {
    this.reset();
    const queue = await snapshot();
    if (queue) this.set(queue.workers);
  },
});

new Gauge({
  name: "notification_deliveries_pending",
  help: "Notification deliveries not yet delivered or given up (due now or waiting for a retry), by channel.",
  labelNames: ["channel"] as const,
  registers: [registry],
  async collect() {
    this.reset();
    const queue = await snapshot();
    if (!queue) return;
    this.set({ channel: "webhook" }, queue.webhooks_pending);
    this.set({ channel: "email" }, queue.emails_pending);
  },
});

const pools = new Map<string, pg.Pool>();

/** Exposes `pool` as db_pool_* with label pool=`name` until it ends. */
export function observePool(name: string, pool: pg.Pool): void {
  pools.set(name, pool);
}

/**
 * The observed pools not yet ending. A pool is dropped at the first scrape after its `end()` began
 * (pg-pool sets `ending` then), read from the pool rather than by wrapping its overloaded `end`.
 */
function livePools(): [string, pg.Pool][] {
  for (const [name, pool] of pools) if (pool.ending) pools.delete(name);
  return [...pools];
}

new Gauge({
  name: "db_pool_connections",
  help: "PostgreSQL connections of this process's pools by state: busy (checked out) or idle.",
  labelNames: ["pool", "state"] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [name, pool] of livePools()) {
      this.set({ pool: name, state: "busy" }, pool.totalCount - pool.idleCount);
      this.set({ pool: name, state: "idle" }, pool.idleCount);
    }
  },
});

new Gauge({
  name: "db_pool_waiting_requests",
  help: "Queries waiting for a free connection of this process's pools (the pool is saturated when > 0).",
  labelNames: ["pool"] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [name, pool] of livePools()) this.set({ pool: name }, pool.waitingCount);
  },
});

new Gauge({
  name: "db_pool_max_connections",
  help: "Size (DB_POOL_SIZE or fixed) of this process's pools.",
  labelNames: ["pool"] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [name, pool] of livePools()) this.set({ pool: name }, pool.options.max ?? 10);
  },
});
