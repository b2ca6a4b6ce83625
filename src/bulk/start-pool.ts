/** Starts a process's worker pool from the config (shared by the API and `deno task worker`). */
import type { Config } from "../config.ts";
import type { Db, SessionTimeouts } from "../db/database.ts";
import { log } from "../log.ts";
import { delivererSettings } from "../notify/deliverer.ts";
import { countChunk } from "../metrics/engine.ts";
import { WorkerPool } from "./pool.ts";
import type { BulkDomain } from "./action.ts";
import { type ProcessKind, WorkerRegistry } from "./worker-registry.ts";

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
  /** Default: the domain worker-thread.ts plugs in. */
  domain?: BulkDomain,
): Promise<WorkerPool> {
  const pool = new WorkerPool({
    databaseUrl,
    count,
    db,
    workerUrl: new URL("../worker-thread.ts", import.meta.url),
    domain: domain?.module,
    shutdownGraceMs: config.shutdownGraceMs,
    retentionDays: config.retentionDays,
    notifications: delivererSettings(config),
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
  pool.on("chunk", countChunk);
  pool.on("chunk", (c) =>
    log.debug("worker", `${c.items} items in ${c.ms.toFixed(0)} ms`, {
      tenant: c.tenantId,
      operation: c.operationId,
      chunk: c.chunkIndex,
      worker: c.workerId,
    }));
  await pool.start();
  log.info("worker", `${count} worker thread(s) started`);
  return pool;
}

/** Registers the pool's threads in bulk_workers and heartbeats them (stop it before the pool). */
export async function registerWorkers(
  config: Config,
  db: Db,
  pool: WorkerPool,
  processKind: ProcessKind,
): Promise<WorkerRegistry> {
  const registry = new WorkerRegistry(db, pool, {
    processKind,
    staleMs: config.workerStaleMs,
    onError: (message) => log.warn("worker", message),
  });
  await registry.start();
  return registry;
}
