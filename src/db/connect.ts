/**
 * Finds the database every entry point (server, worker, tasks) uses: DATABASE_URL when set;
 * otherwise the embedded PostgreSQL in DATA_DIR, started here unless another process of
 * ours (e.g. `deno task start`) already runs it, in which case we connect to that one.
 */
import pg from "pg";
import type { Config } from "../config.ts";
import { embeddedDatabaseUrl, ensureDatabase, startEmbedded } from "./embedded.ts";

export const EMBEDDED_DATABASE = "bulk_ops";

export interface DatabaseHandle {
  url: string;
  embedded: boolean;
  /** Stops the embedded server if this process started it. */
  close(): Promise<void>;
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function openDatabase(config: Config, log: (line: string) => void = () => {}): Promise<DatabaseHandle> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, close: async () => {} };
  const url = (name: string) => embeddedDatabaseUrl(config.embeddedPgPort, name);
  if (await reachable(url("postgres"))) {
    log(`using the embedded PostgreSQL already running on port ${config.embeddedPgPort}`);
    return { url: url(EMBEDDED_DATABASE), embedded: true, close: async () => {} };
  }
  const started = performance.now();
  const server = await startEmbedded({ dataDir: config.dataDir, port: config.embeddedPgPort });
  await ensureDatabase(server, EMBEDDED_DATABASE);
  log(
    `embedded PostgreSQL 18 up on port ${config.embeddedPgPort} (data: ${config.dataDir}) in ${
      Math.round(performance.now() - started)
    } ms`,
  );
  return { url: server.databaseUrl(EMBEDDED_DATABASE), embedded: true, close: () => server.stop() };
}
