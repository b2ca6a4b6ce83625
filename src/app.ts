/**
 * The service assembled on a migrated database: API (HTTP + WebSocket), the shared
 * LISTEN connection, and the in-process worker pool. main.ts and the tests both use it,
 * so the tests run exactly what `deno task start` runs.
 */
import type { Config } from "./config.ts";
import { createDb, createPool, type Db } from "./db/database.ts";
import { readMigrations } from "./db/migrate.ts";
import type { BulkDomain } from "./bulk/action.ts";
import { OperationEvents } from "./bulk/events.ts";
import type { WorkerPool } from "./bulk/pool.ts";
import { registerWorkers, startPool } from "./bulk/start-pool.ts";
import { observeDatabase, observePool } from "./metrics/database.ts";
import { dashboardRoute } from "./http/dashboard.ts";
import { downloadsRoute } from "./http/downloads.ts";
import { exportDownloadRoute } from "./http/export-download.ts";
import { ExportSweep } from "./exports/retention.ts";
import { failedRowsRoute } from "./http/failed-rows.ts";
import { uploadsRoute } from "./http/uploads.ts";
import type { ConnectionRegistry } from "./http/connections.ts";
import { startHttp } from "./http/server.ts";
import { SnapshotReader } from "./graphql/progress.ts";
import { assertServable } from "./graphql/schema.ts";
import { ticketsDomain } from "./tickets/actions/domain.ts";

export interface App {
  url: string;
  db: Db;
  events: OperationEvents;
  /** The in-process workers; null with WORKERS=0. */
  pool: WorkerPool | null;
  /** Open sockets and SSE streams per token (src/http/connections.ts). */
  connections: ConnectionRegistry;
  /** Stops accepting requests, drains workers, closes connections. */
  stop(): Promise<void>;
}

/** Uploads received at once per API process (more wait for a connection). */
const UPLOAD_CONNECTIONS = 4;

/** `domain`: what the bulk API and the in-process workers run (tests plug in another one). */
export async function startApp(
  config: Config,
  databaseUrl: string,
  domain: BulkDomain = ticketsDomain,
): Promise<App> {
  assertServable(domain);
  const db = createDb(databaseUrl, {
    poolSize: config.dbPoolSize,
    applicationName: "bulk-ops api",
    keepAliveMs: config.dbKeepAliveMs,
    onPool: (pool) => observePool("api", pool),
  });
  const unobserve = observeDatabase(db);
  const events = new OperationEvents(config.listenDatabaseUrl ?? databaseUrl, {
    checkMs: config.listenCheckMs,
    keepAliveMs: config.dbKeepAliveMs,
  });
  // Staged uploads COPY on raw pg clients (pg-copy-streams), one per upload in flight.
  const uploadPool = createPool(databaseUrl, {
    poolSize: UPLOAD_CONNECTIONS,
    applicationName: "bulk-ops uploads",
    keepAliveMs: config.dbKeepAliveMs,
  });
  const closeConnections = async () => {
    unobserve();
    await events.stop();
    await uploadPool.end();
    await db.destroy();
  };
  // A step that fails (PORT taken, HOST not ours, workers that cannot start) first closes what
  // is open: nothing may keep the port or the database busy when the caller stops the database.
  const closingOnFailure = (close: () => Promise<void>) => async (error: unknown): Promise<never> => {
    await close();
    throw error;
  };
  await events.start();
  const services = { db, config, domain, events, snapshots: new SnapshotReader(db) };
  const http = await startHttp(services, {
    port: config.port,
    host: config.host,
    migrations: await readMigrations(),
    routes: [
      downloadsRoute(db, domain),
      exportDownloadRoute(db, domain, config.exportRetentionDays),
      failedRowsRoute(db),
      uploadsRoute(db, uploadPool, { maxBytes: config.uploadMaxBytes, idleMs: config.bodyReadTimeoutMs }),
      dashboardRoute(),
    ],
  }).catch(closingOnFailure(closeConnections));
  const pool = config.workers > 0
    ? await startPool(config, databaseUrl, db, config.workers, domain).catch(closingOnFailure(async () => {
      await http.shutdown();
      await closeConnections();
    }))
    : null;
  const workers = pool ? await registerWorkers(config, db, pool, "api") : null;
  const exportSweep = new ExportSweep(db, config.exportRetentionDays);
  exportSweep.start();
  let stopping: Promise<void> | null = null;
  return {
    url: http.url,
    db,
    events,
    pool,
    connections: http.connections,
    stop() {
      stopping ??= (async () => {
        await exportSweep.stop();
        await workers?.stop();
        await pool?.stop();
        await http.shutdown();
        await closeConnections();
      })();
      return stopping;
    },
  };
}
