/**
 * `deno task worker`: a worker-only process (no HTTP) against the same database, so more
 * machines can share the work. WORKERS threads (at least 1). SIGTERM/SIGINT: stop claiming,
 * let in-flight chunks finish within SHUTDOWN_GRACE_MS, release leases, exit. Its /metrics
 * (and /health) listen on METRICS_PORT; its threads register in bulk_workers.
 */
import { loadConfigOrExit } from "./config.ts";
import { openDatabase } from "./db/connect.ts";
import { createDb } from "./db/database.ts";
import { migrate } from "./db/migrate.ts";
import { registerWorkers, startPool, workerSession } from "./bulk/start-pool.ts";
import { observeDatabase, observePool } from "./metrics/database.ts";
import { serveMetrics } from "./metrics/serve.ts";
import { configureLog, log } from "./log.ts";
import { reportStartupFailure } from "./startup-error.ts";
import { Interrupted, listenForStopSignals, type StopSignals } from "./stop-signals.ts";

async function main(stop: StopSignals): Promise<void> {
  const config = loadConfigOrExit();
  configureLog(config);
  const database = await openDatabase(config, (line) => log.info("db", line), stop.signal);
  try {
    await migrate(database.url);
    stop.signal.throwIfAborted();
    // Maintenance (rescue, admission), the worker heartbeat and the /metrics queue gauges.
    const db = createDb(database.url, {
      poolSize: 2,
      applicationName: "bulk-ops worker maintenance",
      onPool: (pool) => observePool("worker", pool),
      keepAliveMs: config.dbKeepAliveMs,
      session: workerSession(config),
    });
    try {
      observeDatabase(db);
      const pool = await startPool(config, database.url, db, Math.max(1, config.workers));
      const workers = await registerWorkers(config, db, pool, "worker");
      const metrics = await serveMetrics(config.host, config.metricsPort);
      log.info("worker", `worker process ${Deno.pid} ready`, { metricsPort: metrics.port });
      await stop.stopped;
      log.info("worker", "stopping: finishing in-flight chunks");
      await workers.stop();
      await pool.stop();
      await metrics.shutdown();
    } finally {
      await db.destroy();
    }
  } finally {
    await database.close();
  }
  log.info("worker", "stopped");
}

// Listening before anything starts: a signal during start-up stops what is open (stop-signals.ts).
const stop = listenForStopSignals();
try {
  await main(stop);
  Deno.exit(0);
} catch (error) {
  if (!(error instanceof Interrupted)) Deno.exit(reportStartupFailure("worker", error));
  log.info("worker", `${error.signal} during start-up: stopped`);
  Deno.exit(0);
}
