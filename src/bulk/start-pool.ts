/** Starts a process's worker pool from the config (shared by the API and `deno task worker`). */
import type { Config } from "../config.ts";
import type { Db } from "../db/database.ts";
import { log } from "../log.ts";
import { delivererSettings } from "../notify/deliverer.ts";
import { WorkerPool } from "./pool.ts";

export async function startPool(
  config: Config,
  databaseUrl: string,
  db: Db,
  count = config.workers,
): Promise<WorkerPool> {
  const pool = new WorkerPool({
    databaseUrl,
    count,
    db,
    workerUrl: new URL("../worker-thread.ts", import.meta.url),
    shutdownGraceMs: config.shutdownGraceMs,
    retentionDays: config.retentionDays,
    notifications: delivererSettings(config),
    settings: {
      leaseMs: config.leaseMs,
      maxAttempts: config.maxAttempts,
      pollMs: config.pollMs,
      maxActivePerUser: config.maxActivePerUser,
    },
  });
  pool.on("error", ({ workerId, message }) => log.warn("worker", `${workerId}: ${message}`));
  pool.on(
    "chunk",
    (c) => log.debug("worker", `${c.workerId}: ${c.items} items of ${c.operationId} in ${c.ms.toFixed(0)} ms`),
  );
  await pool.start();
  log.info("worker", `${count} worker thread(s) started`);
  return pool;
}
