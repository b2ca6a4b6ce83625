/**
 * `deno task worker`: a worker-only process (no HTTP) against the same database, so more
 * machines can share the work. WORKERS threads (at least 1). SIGTERM/SIGINT: stop claiming,
 * let in-flight chunks finish within SHUTDOWN_GRACE_MS, release leases, exit.
 */
import { loadConfigOrExit } from "./config.ts";
import { openDatabase } from "./db/connect.ts";
import { createDb } from "./db/database.ts";
import { migrate } from "./db/migrate.ts";
import { startPool } from "./bulk/start-pool.ts";
import { log, setLogLevel } from "./log.ts";
import { reportStartupFailure } from "./startup-error.ts";
import { Interrupted, listenForStopSignals, type StopSignals } from "./stop-signals.ts";

async function main(stop: StopSignals): Promise<void> {
  const config = loadConfigOrExit();
  setLogLevel(config.logLevel);
  const database = await openDatabase(config, (line) => log.info("db", line), stop.signal);
  try {
    await migrate(database.url);
    stop.signal.throwIfAborted();
    const db = createDb(database.url, { poolSize: 2, applicationName: "bulk-ops worker maintenance" });
    try {
      const pool = await startPool(config, database.url, db, Math.max(1, config.workers));
      log.info("worker", `worker process ${Deno.pid} ready`);
      await stop.stopped;
      log.info("worker", "stopping: finishing in-flight chunks");
      await pool.stop();
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
