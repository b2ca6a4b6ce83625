/**
 * Every setting of the service, read from the environment once and validated.
 * A bad value stops start-up with a message naming the variable (ConfigError).
 * Each default is documented here, where it is defined, and in README.md.
 */

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`Invalid ${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

export interface Config {
  /** HTTP port. `PORT`, default 4000; 0 picks a free port. */
  port: number;
  /** Interface to bind. `HOST`, default 127.0.0.1 (0.0.0.0 in containers). */
  host: string;
  /** External database; when unset an embedded PostgreSQL is started. `DATABASE_URL`. */
  databaseUrl: string | undefined;
  /** Data directory of the embedded PostgreSQL. `DATA_DIR`, default `.data`. */
  dataDir: string;
  /** Port of the embedded PostgreSQL. `EMBEDDED_PG_PORT`, default 54329. */
  embeddedPgPort: number;
  /** Connections per pool (API process, and each worker). `DB_POOL_SIZE`, default 10. */
  dbPoolSize: number;
  /** Seed the demo tenant on first start. `SEED_DEMO`: default on for the embedded database, off for an external one. */
  seedDemo: boolean;
  /** In-process bulk workers. `WORKERS`, default the CPU count; 0 disables them. */
  workers: number;
  /** Items per job (chunk). `BULK_CHUNK_SIZE`, default 2000 (1000-5000 measured best, docs/performance.md). */
  chunkSize: number;
  /** Targets per operation. `BULK_MAX_TARGETS`, default 100000 (the engine handles 1,000,000). */
  maxTargets: number;
  /** Running operations per user before further ones wait QUEUED. `BULK_MAX_ACTIVE_PER_USER`, default 2. */
  maxActivePerUser: number;
  /** Job lease. `BULK_LEASE_MS`, default 30000; the heartbeat renews it every third of that. */
  leaseMs: number;
  /** Attempts per job before its items end FAILED/INTERNAL. `BULK_MAX_ATTEMPTS`, default 5. */
  maxAttempts: number;
  /** Fallback polling when no NOTIFY arrives. `BULK_POLL_MS`, default 1000. */
  pollMs: number;
  /** How long SIGTERM waits for in-flight chunks. `SHUTDOWN_GRACE_MS`, default 10000. */
  shutdownGraceMs: number;
  /** Window in which an operation may be rolled back. `ROLLBACK_WINDOW_HOURS`, default 24. */
  rollbackWindowHours: number;
  /** Maximum GraphQL query depth. `GRAPHQL_MAX_DEPTH`, default 12. */
  maxQueryDepth: number;
  /** Maximum connection nodes a query may ask for (page sizes multiplied along nesting). `GRAPHQL_MAX_COST`, default 25000. */
  maxQueryCost: number;
  /** Largest request body /graphql accepts. `MAX_BODY_BYTES`, default 16 MiB (100,000 ticket ids are ~1.8 MB). */
  maxBodyBytes: number;
  /** Log level: `LOG_LEVEL` = debug | info | warn | error, default info. */
  logLevel: "debug" | "info" | "warn" | "error";
  // Connections, tokens and production mode (docs/security.md).
  /** Open graphql-ws sockets per token. `WS_MAX_SOCKETS_PER_TOKEN`, default 8. */
  wsMaxSocketsPerToken: number;
  /** Operations running at once on one socket. `WS_MAX_SUBSCRIPTIONS_PER_SOCKET`, default 16. */
  wsMaxSubscriptionsPerSocket: number;
  /** Open SSE (and multipart) streams per token. `SSE_MAX_STREAMS_PER_TOKEN`, default 8. */
  sseMaxStreamsPerToken: number;
  /** Time a socket has for connection_init and a valid token. `WS_CONNECTION_INIT_TIMEOUT_MS`, default 3000. */
  wsConnectionInitTimeoutMs: number;
  /** Time a client has to send its whole request body. `BODY_READ_TIMEOUT_MS`, default 30000. */
  bodyReadTimeoutMs: number;
  /** Longest a query or mutation may execute. `GRAPHQL_MAX_EXECUTION_MS`, default 30000. */
  maxExecutionMs: number;
  /** How often open sockets and streams have their token re-checked. `TOKEN_SWEEP_MS`, default 5000. */
  tokenSweepMs: number;
  /** `NODE_ENV=production`: no GraphiQL, no anonymous introspection, same-origin CORS unless CORS_ORIGINS. */
  production: boolean;
  /** Origins allowed cross-origin (comma-separated). `CORS_ORIGINS`; default any in development, none in production. */
  corsOrigins: string[] | null;
  /** Only documents from the client manifest run. `GRAPHQL_TRUSTED_DOCUMENTS_ONLY`, default off. */
  trustedDocumentsOnly: boolean;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `"${raw}" is not an integer`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(name, `${value} is outside ${min}..${max}`);
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (["1", "true", "yes", "on"].includes(raw.toLowerCase())) return true;
  if (["0", "false", "no", "off"].includes(raw.toLowerCase())) return false;
  throw new ConfigError(name, `"${raw}" is not a boolean (use 1/0, true/false)`);
}

/** `CORS_ORIGINS`: "*" or a comma-separated list of origins (scheme://host[:port]); unset -> null. */
function corsOrigins(env: Env): string[] | null {
  const raw = env.CORS_ORIGINS;
  if (raw === undefined || raw.trim() === "") return null;
  if (raw.trim() === "*") return ["*"];
  return raw.split(",").map((entry) => entry.trim()).filter(Boolean).map((origin) => {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new ConfigError("CORS_ORIGINS", `"${origin}" is not an origin (expected https://host[:port])`);
    }
    if (url.origin !== origin || !["http:", "https:"].includes(url.protocol)) {
      throw new ConfigError("CORS_ORIGINS", `"${origin}" is not an origin (expected https://host[:port], no path)`);
    }
    return origin;
  });
}

function databaseUrl(env: Env): string | undefined {
  const raw = env.DATABASE_URL;
  if (raw === undefined || raw === "") return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError("DATABASE_URL", "not a URL (expected postgres://user:pass@host:port/db)");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError("DATABASE_URL", `protocol must be postgres: or postgresql:, got ${url.protocol}`);
  }
  return raw;
}

/** Reads and validates the configuration; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = Deno.env.toObject()): Config {
  const url = databaseUrl(env);
  const logLevel = env.LOG_LEVEL || "info"; // empty means unset, as for every variable
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError("LOG_LEVEL", `"${logLevel}" is not one of debug, info, warn, error`);
  }
  return {
    port: integer(env, "PORT", 4000, 0, 65535),
    host: env.HOST || "127.0.0.1",
    databaseUrl: url,
    dataDir: env.DATA_DIR || ".data",
    embeddedPgPort: integer(env, "EMBEDDED_PG_PORT", 54329, 1, 65535),
    dbPoolSize: integer(env, "DB_POOL_SIZE", 10, 1, 200),
    seedDemo: boolean(env, "SEED_DEMO", url === undefined),
    workers: integer(env, "WORKERS", navigator.hardwareConcurrency ?? 2, 0, 64),
    chunkSize: integer(env, "BULK_CHUNK_SIZE", 2000, 1, 10000),
    maxTargets: integer(env, "BULK_MAX_TARGETS", 100_000, 1, 10_000_000),
    maxActivePerUser: integer(env, "BULK_MAX_ACTIVE_PER_USER", 2, 1, 1000),
    leaseMs: integer(env, "BULK_LEASE_MS", 30_000, 1000, 3_600_000),
    maxAttempts: integer(env, "BULK_MAX_ATTEMPTS", 5, 1, 100),
    pollMs: integer(env, "BULK_POLL_MS", 1000, 10, 60_000),
    shutdownGraceMs: integer(env, "SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    rollbackWindowHours: integer(env, "ROLLBACK_WINDOW_HOURS", 24, 1, 24 * 365),
    maxQueryDepth: integer(env, "GRAPHQL_MAX_DEPTH", 12, 2, 100),
    maxQueryCost: integer(env, "GRAPHQL_MAX_COST", 25_000, 100, 10_000_000),
    maxBodyBytes: integer(env, "MAX_BODY_BYTES", 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    logLevel: logLevel as Config["logLevel"],
    wsMaxSocketsPerToken: integer(env, "WS_MAX_SOCKETS_PER_TOKEN", 8, 1, 10_000),
    wsMaxSubscriptionsPerSocket: integer(env, "WS_MAX_SUBSCRIPTIONS_PER_SOCKET", 16, 1, 10_000),
    sseMaxStreamsPerToken: integer(env, "SSE_MAX_STREAMS_PER_TOKEN", 8, 1, 10_000),
    wsConnectionInitTimeoutMs: integer(env, "WS_CONNECTION_INIT_TIMEOUT_MS", 3000, 100, 60_000),
    bodyReadTimeoutMs: integer(env, "BODY_READ_TIMEOUT_MS", 30_000, 100, 600_000),
    maxExecutionMs: integer(env, "GRAPHQL_MAX_EXECUTION_MS", 30_000, 100, 3_600_000),
    tokenSweepMs: integer(env, "TOKEN_SWEEP_MS", 5000, 100, 300_000),
    production: env.NODE_ENV === "production",
    corsOrigins: corsOrigins(env),
    trustedDocumentsOnly: boolean(env, "GRAPHQL_TRUSTED_DOCUMENTS_ONLY", false),
  };
}

/** loadConfig for entry points: a ConfigError is printed and the process exits with code 2. */
export function loadConfigOrExit(env?: Env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`Configuration error: ${error.message}`);
    Deno.exit(2);
  }
}
