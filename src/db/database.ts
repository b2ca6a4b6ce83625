/** The Kysely instance over a pg Pool. One per process or worker thread. */
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./tables.ts";

export type Db = Kysely<Database>;

// int8 (bigint ids) stays a string; counts cast with ::int come back as numbers.
export interface DatabaseOptions {
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** application_name seen in pg_stat_activity (default "bulk-ops"). */
  applicationName?: string;
  /** Called with the new pool (e.g. to expose its use on /metrics). */
  onPool?: (pool: pg.Pool) => void;
}

export function createPool(url: string, options: DatabaseOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? "bulk-ops",
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener
  // that would crash the process. The next checkout gets a fresh connection.
  pool.on("error", (error) => console.error("[db] idle client error:", error.message));
  // pg's Pool.end() resolves once it has *asked* its idle clients to end, before their
  // sockets are closed. A caller that stops the embedded PostgreSQL right after (every entry
  // point does) would have the server kill those connections ("terminating connection due
  // to administrator command" on the pool's error handler). Wait for every client to go.
  const open = new Set<pg.Client>();
  pool.on("connect", (client) => open.add(client));
  pool.on("remove", (client) => open.delete(client));
  const end = pool.end.bind(pool);
  const endAndWait = async (): Promise<void> => {
    await end();
    const deadline = Date.now() + 5000;
    while (open.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  pool.end = ((callback?: () => void) => {
    if (!callback) return endAndWait();
    endAndWait().then(callback, callback);
  }) as typeof pool.end;
  options.onPool?.(pool);
  return pool;
}

export function createDb(url: string, options: DatabaseOptions = {}): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(url, options) }) });
}
