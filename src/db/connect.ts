/**
 * Finds the database every entry point (server, worker, tasks) uses: DATABASE_URL when set;
 * otherwise the embedded PostgreSQL in DATA_DIR, started here unless another process of
 * ours (e.g. `deno task start`) already runs it, in which case we connect to that one.
 * The embedded database is reached as its non-superuser owner, APP_ROLE (embedded.ts); the
 * superuser only looks at which server answers.
 */
import pg from "pg";
import type { Config } from "../config.ts";
import { StartupError } from "../startup-error.ts";
import {
  APP_ROLE,
  embeddedDatabaseUrl,
  ensureDatabase,
  readCredentials,
  startEmbedded,
  SUPERUSER,
} from "./embedded.ts";
import { absolutePath, stagedDataDir } from "./postgres-server.ts";
import { sqlState } from "../guards.ts";

export const EMBEDDED_DATABASE = "bulk_ops";

export interface DatabaseHandle {
  url: string;
  embedded: boolean;
  /** Stops the embedded server if this process started it. */
  close(): Promise<void>;
}

/**
 * Who answers at `url`: the data directory of the PostgreSQL there, "refused" when one answers
 * but refuses our password (another DATA_DIR's server: each has its own random password), or
 * null when none answers.
 */
async function runningDataDir(url: string): Promise<string | "refused" | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    return sqlState(error) === INVALID_PASSWORD ? "refused" : null;
  }
  try {
    return (await client.query<{ data_directory: string }>("SHOW data_directory")).rows[0].data_directory;
  } finally {
    await client.end().catch(() => {});
  }
}

const INVALID_PASSWORD = "28P01";

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
  const credentials = await readCredentials(config.dataDir);
  // Without stored passwords (a new DATA_DIR) no server of ours runs: any password tells whether one answers.
  const password = credentials?.superuserPassword ?? "-";
  const running = await runningDataDir(embeddedDatabaseUrl(config.embeddedPgPort, "postgres", SUPERUSER, password));
  if (running === "refused") {
    throw new StartupError(
      `EMBEDDED_PG_PORT ${config.embeddedPgPort} is taken by a PostgreSQL that refuses the password of ` +
        `${config.dataDir} (another data directory's server): stop it, or set EMBEDDED_PG_PORT to a free port.`,
    );
  }
  if (running !== null) {
    // Only if it is the one of *this* DATA_DIR: another checkout's database on the same port
    // must not be used (or seeded, or given tokens) silently.
    if (!credentials || !(await isOurs(running, config.dataDir))) {
      throw new StartupError(
        `EMBEDDED_PG_PORT ${config.embeddedPgPort} is taken by a PostgreSQL with data directory ${running}, ` +
          `not ${config.dataDir}: stop it, or set EMBEDDED_PG_PORT to a free port.`,
      );
    }
    log(`using the embedded PostgreSQL already running on port ${config.embeddedPgPort}`);
    const url = embeddedDatabaseUrl(config.embeddedPgPort, EMBEDDED_DATABASE, APP_ROLE, credentials.appPassword);
    return { url, embedded: true, close: async () => {} };
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
  return { url: server.appDatabaseUrl(EMBEDDED_DATABASE), embedded: true, close: () => server.stop() };
}
