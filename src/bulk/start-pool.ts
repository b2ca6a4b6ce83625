/** Starts a process's worker pool from the config (shared by the API and `deno task worker`). */
import type { Config } from "../config.ts";
import type { Db, SessionTimeouts } from "../db/database.ts";
import { log } from "../log.ts";
import { WorkerPool } from "./pool.ts";

/** The server-side timeouts of worker sessions (chunk transactions and worker maintenance). */
export function workerSession(config: Config): SessionTimeouts {
  return {
    statementTimeoutMs: config.statementTimeoutMs,
    lockTimeoutMs: config.lockTimeoutMs,
    idleInTransactionTimeoutMs: config.idleInTransactionTimeoutMs,
  };
}

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
    listen: { url: config.listenDatabaseUrl, checkMs: config.listenCheckMs, keepAliveMs: config.dbKeepAliveMs },
    settings: {
      leaseMs: config.leaseMs,
      chunkTimeoutMs: config.chunkTimeoutMs,
      maxAttempts: config.maxAttempts,
      pollMs: config.pollMs,
      maxActivePerUser: config.maxActivePerUser,
      keepAliveMs: config.dbKeepAliveMs,
      session: workerSession(config),
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
