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
  return pool;
}

export function createDb(url: string, options: DatabaseOptions = {}): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(url, options) }) });
}
