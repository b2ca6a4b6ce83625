/**
 * Finds the database every entry point (server, worker, tasks) uses: DATABASE_URL when set;
 * otherwise the embedded PostgreSQL in DATA_DIR, started here unless another process of
 * ours (e.g. `deno task start`) already runs it, in which case we connect to that one.
 */
import pg from "pg";
import type { Config } from "../config.ts";
import { StartupError } from "../startup-error.ts";
import { embeddedDatabaseUrl, ensureDatabase, startEmbedded } from "./embedded.ts";
import { absolutePath, stagedDataDir } from "./postgres-server.ts";

export const EMBEDDED_DATABASE = "bulk_ops";

export interface DatabaseHandle {
  url: string;
  embedded: boolean;
  /** Stops the embedded server if this process started it. */
  close(): Promise<void>;
}

/** The data directory of the PostgreSQL answering at `url`, or null when none answers. */
async function runningDataDir(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
  } catch {
    await client.end().catch(() => {});
    return null;
  }
  try {
    return (await client.query<{ data_directory: string }>("SHOW data_directory")).rows[0].data_directory;
  } finally {
    await client.end().catch(() => {});
  }
}

async function realPath(path: string): Promise<string> {
  return await Deno.realPath(path).catch(() => path);
}

/** Whether a server's data directory is DATA_DIR's (in place, or staged for the postgres user). */
async function isOurs(running: string, dataDir: string): Promise<boolean> {
  const ours = await realPath(absolutePath(dataDir));
  const actual = await realPath(running);
  return actual === ours || actual === await stagedDataDir(ours);
}

/**
 * `signal` (SIGINT/SIGTERM during start-up) stops an embedded server this call started and
 * rejects with its reason.
 */
export async function openDatabase(
  config: Config,
  log: (line: string) => void = () => {},
  signal?: AbortSignal,
): Promise<DatabaseHandle> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, close: async () => {} };
  const url = (name: string) => embeddedDatabaseUrl(config.embeddedPgPort, name);
  const running = await runningDataDir(url("postgres"));
  if (running !== null) {
    // Only if it is the one of *this* DATA_DIR: another checkout's database on the same port
    // must not be used (or seeded, or given tokens) silently.
    if (!(await isOurs(running, config.dataDir))) {
      throw new StartupError(
        `EMBEDDED_PG_PORT ${config.embeddedPgPort} is taken by a PostgreSQL with data directory ${running}, ` +
          `not ${config.dataDir}: stop it, or set EMBEDDED_PG_PORT to a free port.`,
      );
    }
    log(`using the embedded PostgreSQL already running on port ${config.embeddedPgPort}`);
    return { url: url(EMBEDDED_DATABASE), embedded: true, close: async () => {} };
  }
  const started = performance.now();
  const server = await startEmbedded({ dataDir: config.dataDir, port: config.embeddedPgPort, signal });
  try {
    await ensureDatabase(server, EMBEDDED_DATABASE);
    signal?.throwIfAborted();
  } catch (error) {
    await server.stop();
    throw error;
  }
  log(
    `embedded PostgreSQL 18 up on port ${config.embeddedPgPort} (data: ${server.dataDir}) in ${
      Math.round(performance.now() - started)
    } ms`,
  );
  return { url: server.databaseUrl(EMBEDDED_DATABASE), embedded: true, close: () => server.stop() };
}
