/**
 * The embedded PostgreSQL 18 used when DATABASE_URL is unset (process: postgres-server.ts).
 * Its data directory is kept across restarts; initdb runs only when it is new.
 */
import pg from "pg";
import { serverLayout, startServer } from "./postgres-server.ts";

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Delete the data directory on stop (tests). Default false. */
  ephemeral?: boolean;
  /** Receives postgres's own log lines (default: dropped). */
  onLog?: (line: string) => void;
  /** SIGINT/SIGTERM during start-up: postgres is stopped and the signal's reason thrown. */
  signal?: AbortSignal;
}

export interface EmbeddedDatabase {
  /** URL of the `postgres` maintenance database; use databaseUrl() for others. */
  url: string;
  /** The data directory the server uses (DATA_DIR, or where it is staged when run as root). */
  dataDir: string;
  databaseUrl(name: string): string;
  createDatabase(name: string, template?: string): Promise<void>;
  stop(): Promise<void>;
}

const USER = "postgres";
// The server listens on loopback only, so a fixed local password is no exposure.
const PASSWORD = "postgres";

export function embeddedDatabaseUrl(port: number, name: string): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(name)}`;
}

/** Starts the server; a failure is a StartupError naming the cause (startup-error.ts). */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const layout = await serverLayout(options.dataDir);
  const server = await startServer(layout, {
    port: options.port,
    user: USER,
    password: PASSWORD,
    onLog: options.onLog ?? (() => {}),
    signal: options.signal,
  });
  const databaseUrl = (name: string) => embeddedDatabaseUrl(options.port, name);
  return {
    url: databaseUrl("postgres"),
    dataDir: layout.dataDir,
    databaseUrl,
    createDatabase: (name, template) =>
      withClient(databaseUrl("postgres"), (client) =>
        client.query(
          `CREATE DATABASE ${quoteIdent(name)}${template ? ` TEMPLATE ${quoteIdent(template)}` : ""}`,
        ).then(() => {})),
    stop: async () => {
      await server.stop();
      if (options.ephemeral) {
        await Deno.remove(layout.dataDir, { recursive: true }).catch(() => {});
        await Deno.remove(options.dataDir, { recursive: true }).catch(() => {});
      }
    },
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
