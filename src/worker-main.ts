/**
 * `deno task worker`: a worker-only process (no HTTP) against the same database, so more
 * machines can share the work. WORKERS threads (at least 1). SIGTERM/SIGINT: stop claiming,
 * let in-flight chunks finish within SHUTDOWN_GRACE_MS, release leases, exit.
 */
import { loadConfigOrExit } from "./config.ts";
import { openDatabase } from "./db/connect.ts";
import { createDb } from "./db/database.ts";
import { migrate } from "./db/migrate.ts";
import { startPool, workerSession } from "./bulk/start-pool.ts";
import { log, setLogLevel } from "./log.ts";

const config = loadConfigOrExit();
setLogLevel(config.logLevel);
const database = await openDatabase(config, (line) => log.info("db", line));
await migrate(database.url);
const db = createDb(database.url, {
  poolSize: 2,
  applicationName: "bulk-ops worker maintenance",
  keepAliveMs: config.dbKeepAliveMs,
  session: workerSession(config),
});
const pool = await startPool(config, database.url, db, Math.max(1, config.workers));
log.info("worker", `worker process ${Deno.pid} ready`);
await new Promise<void>((resolve) => {
  Deno.addSignalListener("SIGINT", resolve);
  Deno.addSignalListener("SIGTERM", resolve);
});
log.info("worker", "stopping: finishing in-flight chunks");
await pool.stop();
await db.destroy();
await database.close();
log.info("worker", "stopped");
Deno.exit(0);
