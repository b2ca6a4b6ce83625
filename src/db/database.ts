/** The Kysely instance over a pg Pool. One per process or worker thread. */
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { DEFAULT_KEEPALIVE_MS } from "../config.ts";
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
  /** TCP keepalive idle time before the first probe (default DEFAULT_KEEPALIVE_MS). */
  keepAliveMs?: number;
  /** Server-side limits of every session (worker pools); none when unset. */
  session?: SessionTimeouts;
}

/** Session settings sent at connect (no round trip): see Config for what each one is for. */
export interface SessionTimeouts {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
}

/** The keepalive options of a pg Client or Pool. */
export function keepAliveOptions(keepAliveMs = DEFAULT_KEEPALIVE_MS): pg.ClientConfig {
  return { keepAlive: true, keepAliveInitialDelayMillis: keepAliveMs };
}

export function createPool(url: string, options: DatabaseOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? "bulk-ops",
    ...keepAliveOptions(options.keepAliveMs),
    ...(options.session && {
      statement_timeout: options.session.statementTimeoutMs,
      lock_timeout: options.session.lockTimeoutMs,
      idle_in_transaction_session_timeout: options.session.idleInTransactionTimeoutMs,
    }),
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener
  // that would crash the process. The next checkout gets a fresh connection.
  pool.on("error", (error) => console.error("[db] idle client error:", error.message));
  // pg's Pool.end() resolves once it has *asked* its idle clients to end, before their
  // sockets are closed. A caller that stops the embedded PostgreSQL right after (every entry
  // point does) would have the server kill those connections ("terminating connection due
  // to administrator command" on the pool's error handler). Wait for every client to go.
  const open = new Set<pg.Client>();
  pool.on("connect", (client) => {
    open.add(client);
    // A checked-out client whose connection the server ends (e.g. idle_in_transaction_session_timeout
    // after its worker froze) emits 'error' too, and pg-pool listens only while the client is idle:
    // unheard, it would crash the thread. The query in flight, or the next one, fails with the
    // error instead, and the pool drops the broken client when it is released.
    client.on("error", () => {});
  });
  pool.on("remove", (client) => open.delete(client));
  const end = pool.end.bind(pool);
  const endAndWait = async (): Promise<void> => {
    await end();
    const deadline = Date.now() + 5000;
    while (open.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  // A cast kept: pool.end is overloaded (promise, or callback), which one arrow function cannot be typed as.
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
