/**
 * Every setting of the service, read from the environment once and validated.
 * A bad value stops start-up with a message naming the variable (ConfigError).
 * Each default is documented here, where it is defined, and in README.md.
 */
import { isOneOf } from "./guards.ts";

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
  /**
   * Where the LISTEN connections go (progress for subscriptions, wake-ups for workers), when
   * not the database itself: e.g. straight to PostgreSQL past a transaction-pooling proxy,
   * which cannot LISTEN. `LISTEN_DATABASE_URL`, default the database's URL.
   */
  listenDatabaseUrl: string | undefined;
  /**
   * Liveness check of a LISTEN connection: a round trip every this long, and the connection
   * is replaced when it does not answer within it. `LISTEN_CHECK_MS`, default 5000.
   */
  listenCheckMs: number;
  /** Data directory of the embedded PostgreSQL. `DATA_DIR`, default `.data`. */
  dataDir: string;
  /** Port of the embedded PostgreSQL. `EMBEDDED_PG_PORT`, default 54329. */
  embeddedPgPort: number;
  /**
   * Connections of the API process's pool. `DB_POOL_SIZE`, default 10. Worker threads do not use it: each needs
   * exactly 2 (its chunk transaction and the lease heartbeat), as does `deno task worker`'s maintenance pool.
   */
  dbPoolSize: number;
  /**
   * TCP keepalive on every database connection: idle time before the first probe (the
   * kernel's interval and count follow). `DB_KEEPALIVE_MS`, default 30000.
   */
  dbKeepAliveMs: number;
  /** Seed the demo tenant on first start. `SEED_DEMO`: default on for the embedded database, off for an external one. */
  seedDemo: boolean;
  /** In-process bulk workers. `WORKERS`, default the CPU count; 0 disables them in the API (`deno task worker` runs at least 1). */
  workers: number;
  /** Items per job (chunk). `BULK_CHUNK_SIZE`, default 2000 (1000-5000 measured best, docs/performance.md). */
  chunkSize: number;
  /**
   * Items per chunk of an EXPORT (BulkAction.chunkSize): `BULK_EXPORT_CHUNK_SIZE`, default 20000. An export's
   * chunk is one statement whose cost is mostly per chunk (claim, commit, counters, NOTIFY), so it takes
   * fewer, larger chunks than a change (docs/performance.md, "Session 4: export"); cancel still stops at a
   * chunk boundary.
   */
  exportChunkSize: number;
  /**
   * Targets per operation. `BULK_MAX_TARGETS`, default 1,000,000: a start over that many takes about
   * a second since it writes one job row per chunk, not one ledger row per target (docs/performance.md).
   */
  maxTargets: number;
  /** Running operations per user before further ones wait QUEUED. `BULK_MAX_ACTIVE_PER_USER`, default 2. */
  maxActivePerUser: number;
  /** Operations a user may create per rolling minute (RATE_LIMITED above). `BULK_MAX_STARTS_PER_MINUTE`, default 30. */
  maxStartsPerMinute: number;
  /** Operations of a user waiting QUEUED or SCHEDULED at once (TOO_MANY_WAITING above). `BULK_MAX_WAITING_PER_USER`, default 20. */
  maxWaitingPerUser: number;
  /** Job lease. `BULK_LEASE_MS`, default 30000; the heartbeat renews it every third of that. */
  leaseMs: number;
  /**
   * Longest a chunk may run in total (lock waits included); it is then cancelled, rolled back
   * and retried like any failed attempt. `BULK_CHUNK_TIMEOUT_MS`, default 120000 (a 2,000-item
   * chunk takes ~0.1 s, docs/performance.md).
   */
  chunkTimeoutMs: number;
  /**
   * `lock_timeout` of worker sessions: a chunk waiting longer for a row lock fails its attempt
   * (retried with backoff). `BULK_LOCK_TIMEOUT_MS`, default `BULK_LEASE_MS`.
   */
  lockTimeoutMs: number;
  /** `statement_timeout` of worker sessions. `BULK_STMT_TIMEOUT_MS`, default 60000. */
  statementTimeoutMs: number;
  /**
   * `idle_in_transaction_session_timeout` of worker sessions: PostgreSQL ends the session of a
   * worker frozen inside a chunk (its row locks are released) after this long.
   * `BULK_IDLE_TX_TIMEOUT_MS`, default twice `BULK_LEASE_MS`.
   */
  idleInTransactionTimeoutMs: number;
  /** Attempts per job before its items end FAILED/INTERNAL. `BULK_MAX_ATTEMPTS`, default 5. */
  maxAttempts: number;
  /** Fallback polling when no NOTIFY arrives. `BULK_POLL_MS`, default 1000. */
  pollMs: number;
  /** How long SIGTERM waits for in-flight chunks. `SHUTDOWN_GRACE_MS`, default 10000. */
  shutdownGraceMs: number;
  /** Window in which an operation may be rolled back. `ROLLBACK_WINDOW_HOURS`, default 24. */
  rollbackWindowHours: number;
  /**
   * Finished operations older than this many days are deleted with their items, events and
   * jobs (src/bulk/retention.ts). `BULK_RETENTION_DAYS`, default 90; at least the rollback
   * window, so nothing that may still be rolled back is removed.
   */
  retentionDays: number;
  /**
   * A finished export's file (its parts) is deleted this many days after the export finished;
   * the operation and its ledger stay (src/exports/retention.ts). `EXPORT_RETENTION_DAYS`,
   * default 7 or `BULK_RETENTION_DAYS` if shorter; at most `BULK_RETENTION_DAYS` (the
   * operation's own deletion takes the file with it).
   */
  exportRetentionDays: number;
  /** Maximum GraphQL query depth. `GRAPHQL_MAX_DEPTH`, default 12. */
  maxQueryDepth: number;
  /** Maximum connection nodes a query may ask for (page sizes multiplied along nesting). `GRAPHQL_MAX_COST`, default 25000. */
  maxQueryCost: number;
  /** Tokens a GraphQL document may have (lexed before parsing). `GRAPHQL_MAX_TOKENS`, default 5000. */
  maxTokens: number;
  /** Aliases per operation, fragments counted. `GRAPHQL_MAX_ALIASES`, default 30. */
  maxAliases: number;
  /** Directives per operation. `GRAPHQL_MAX_DIRECTIVES`, default 20. */
  maxDirectives: number;
  /** Root fields per query or subscription. `GRAPHQL_MAX_ROOT_FIELDS`, default 20. */
  maxRootFields: number;
  /** Mutation fields per request. `GRAPHQL_MAX_MUTATIONS`, default 5. */
  maxMutations: number;
  /** Points in each API token's cost bucket (at least GRAPHQL_MAX_COST). `GRAPHQL_COST_BUCKET_SIZE`, default 50000. */
  costBucketSize: number;
  /** Points a cost bucket regains per second. `GRAPHQL_COST_RESTORE_RATE`, default 2500 (empty to full in 20 s). */
  costRestoreRate: number;
  /** Largest request body /graphql accepts. `MAX_BODY_BYTES`, default 16 MiB (100,000 ticket ids are ~1.8 MB). */
  maxBodyBytes: number;
  /**
   * Largest file a staged upload (PUT /uploads/{id}) accepts; streamed to the database, never held.
   * `UPLOAD_MAX_BYTES`, default 1 GiB (a 1,000,000-row ticket CSV is ~150 MB).
   */
  uploadMaxBytes: number;
  /** Log level: `LOG_LEVEL` = debug | info | warn | error, default info. */
  logLevel: typeof LOG_LEVELS[number];
  /**
   * Base URL of this service as receivers and mail readers reach it, for the links in webhook
   * payloads and e-mails. `PUBLIC_URL`, default `http://localhost:<PORT>`.
   */
  publicUrl: string;
  /**
   * Key that encrypts webhook signing secrets at rest (AES-256-GCM): base64 of 32 bytes
   * (`openssl rand -base64 32`). `WEBHOOK_SECRET_KEY`; unset = webhook endpoints cannot be
   * created (WEBHOOKS_NOT_CONFIGURED).
   */
  webhookSecretKey: Uint8Array | undefined;
  /** How long one webhook POST (connect + response) may take. `WEBHOOK_TIMEOUT_MS`, default 10000. */
  webhookTimeoutMs: number;
  /** Consecutive failed attempts after which an endpoint is disabled. `WEBHOOK_MAX_CONSECUTIVE_FAILURES`, default 20. */
  webhookMaxConsecutiveFailures: number;
  /** After rotateWebhookSecret, the old secret keeps signing this long. `WEBHOOK_SECRET_OVERLAP_HOURS`, default 24. */
  webhookSecretOverlapHours: number;
  /** Allow webhook URLs that resolve to private, loopback or link-local addresses. `WEBHOOK_ALLOW_PRIVATE_NETWORKS`, default off. */
  webhookAllowPrivateNetworks: boolean;
  /** First retry delay of a failed delivery; doubles per attempt up to 1 h, jittered. `NOTIFY_RETRY_BASE_MS`, default 10000. */
  notifyRetryBaseMs: number;
  /** How often deliverers look for due deliveries. `NOTIFY_POLL_MS`, default 1000. */
  notifyPollMs: number;
  /**
   * Events and their delivery history are kept this long (none still pending).
   * `NOTIFY_RETENTION_DAYS`, default 30 or `BULK_RETENTION_DAYS` if shorter; at most
   * `BULK_RETENTION_DAYS`, so an operation's notifications are pruned (in batches) before
   * bulk retention deletes the operation.
   */
  notifyRetentionDays: number;
  /** SMTP server for e-mail notifications (smtp:// or smtps://, credentials in the URL). `SMTP_URL`; unset = e-mail off. */
  smtpUrl: string | undefined;
  /** Sender of notification e-mails. `SMTP_FROM`, default `bulk-ops <noreply@localhost>`. */
  smtpFrom: string;
  /** `LOG_FORMAT` = text (default: readable in a terminal) | json (one JSON object per line, for log shippers). */
  logFormat: "text" | "json";
  /**
   * Port of the /metrics (and /health) listener of a `deno task worker` process. `METRICS_PORT`,
   * default 9464; 0 picks a free port (logged). The API process serves /metrics on PORT instead.
   */
  metricsPort: number;
  /**
   * A worker thread that has not sent a heartbeat for this long counts as dead: it leaves the
   * `workers` query and /ready's count. `WORKER_STALE_MS`, default 30000; heartbeats every third of it.
   */
  workerStaleMs: number;
  // Connections, tokens and production mode (docs/security.md).
  /** Open graphql-ws sockets per token. `WS_MAX_SOCKETS_PER_TOKEN`, default 8. */
  wsMaxSocketsPerToken: number;
  /** Operations running at once on one socket. `WS_MAX_SUBSCRIPTIONS_PER_SOCKET`, default 16. */
  wsMaxSubscriptionsPerSocket: number;
  /** Open SSE (and multipart) streams per token. `SSE_MAX_STREAMS_PER_TOKEN`, default 8. */
  sseMaxStreamsPerToken: number;
  /** Time a socket has for connection_init and a valid token. `WS_CONNECTION_INIT_TIMEOUT_MS`, default 3000. */
  wsConnectionInitTimeoutMs: number;
  /**
   * Time a client has to send its whole request body; a staged upload (PUT /uploads/{id}) may take longer, but no
   * more than this between two chunks. `BODY_READ_TIMEOUT_MS`, default 30000.
   */
  bodyReadTimeoutMs: number;
  /** Time a connection has to send a complete request head. `HEADER_READ_TIMEOUT_MS`, default 10000. */
  headerReadTimeoutMs: number;
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

/**
 * Every variable loadConfig reads: `Env` admits no other name, so a new setting must be added
 * here, and tests/permissions_test.ts checks that each task of deno.json may read all of them
 * (`--allow-env=<this list>`; `--ignore-env` hides the rest of the environment, libraries included).
 */
export const CONFIG_VARIABLES = [
  "BODY_READ_TIMEOUT_MS",
  "BULK_CHUNK_SIZE",
  "BULK_CHUNK_TIMEOUT_MS",
  "BULK_EXPORT_CHUNK_SIZE",
  "BULK_IDLE_TX_TIMEOUT_MS",
  "BULK_LEASE_MS",
  "BULK_LOCK_TIMEOUT_MS",
  "BULK_MAX_ACTIVE_PER_USER",
  "BULK_MAX_ATTEMPTS",
  "BULK_MAX_STARTS_PER_MINUTE",
  "BULK_MAX_TARGETS",
  "BULK_MAX_WAITING_PER_USER",
  "BULK_POLL_MS",
  "BULK_RETENTION_DAYS",
  "BULK_STMT_TIMEOUT_MS",
  "CORS_ORIGINS",
  "DATABASE_URL",
  "DATA_DIR",
  "DB_KEEPALIVE_MS",
  "DB_POOL_SIZE",
  "EMBEDDED_PG_PORT",
  "EXPORT_RETENTION_DAYS",
  "GRAPHQL_COST_BUCKET_SIZE",
  "GRAPHQL_COST_RESTORE_RATE",
  "GRAPHQL_MAX_ALIASES",
  "GRAPHQL_MAX_COST",
  "GRAPHQL_MAX_DEPTH",
  "GRAPHQL_MAX_DIRECTIVES",
  "GRAPHQL_MAX_EXECUTION_MS",
  "GRAPHQL_MAX_MUTATIONS",
  "GRAPHQL_MAX_ROOT_FIELDS",
  "GRAPHQL_MAX_TOKENS",
  "GRAPHQL_TRUSTED_DOCUMENTS_ONLY",
  "HEADER_READ_TIMEOUT_MS",
  "HOST",
  "LISTEN_CHECK_MS",
  "LISTEN_DATABASE_URL",
  "LOG_FORMAT",
  "LOG_LEVEL",
  "MAX_BODY_BYTES",
  "METRICS_PORT",
  "NODE_ENV",
  "NOTIFY_POLL_MS",
  "NOTIFY_RETENTION_DAYS",
  "NOTIFY_RETRY_BASE_MS",
  "PORT",
  "PUBLIC_URL",
  "ROLLBACK_WINDOW_HOURS",
  "SEED_DEMO",
  "SHUTDOWN_GRACE_MS",
  "SMTP_FROM",
  "SMTP_URL",
  "SSE_MAX_STREAMS_PER_TOKEN",
  "TOKEN_SWEEP_MS",
  "UPLOAD_MAX_BYTES",
  "WEBHOOK_ALLOW_PRIVATE_NETWORKS",
  "WEBHOOK_MAX_CONSECUTIVE_FAILURES",
  "WEBHOOK_SECRET_KEY",
  "WEBHOOK_SECRET_OVERLAP_HOURS",
  "WEBHOOK_TIMEOUT_MS",
  "WORKERS",
  "WORKER_STALE_MS",
  "WS_CONNECTION_INIT_TIMEOUT_MS",
  "WS_MAX_SOCKETS_PER_TOKEN",
  "WS_MAX_SUBSCRIPTIONS_PER_SOCKET",
] as const;

export type ConfigVariable = typeof CONFIG_VARIABLES[number];

/**
 * Variables the service's tasks may read besides CONFIG_VARIABLES: read by Deno's Node
 * compatibility layer, not by loadConfig. `NODE_EXTRA_CA_CERTS`: extra CAs for webhook
 * receivers with private certificates (docs/webhooks.md).
 */
export const RUNTIME_VARIABLES = ["NODE_EXTRA_CA_CERTS"] as const;

type Env = Partial<Record<ConfigVariable, string>>;

/** The configuration variables of this process's environment (only those: see CONFIG_VARIABLES). */
export function configEnvironment(): Env {
  return Object.fromEntries(CONFIG_VARIABLES.map((name) => [name, Deno.env.get(name)]));
}

/** Default of `DB_KEEPALIVE_MS`, also used by connections opened outside a loaded config. */
export const DEFAULT_KEEPALIVE_MS = 30_000;

function integer(env: Env, name: ConfigVariable, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `"${raw}" is not an integer`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(name, `${value} is outside ${min}..${max}`);
  }
  return value;
}

function boolean(env: Env, name: ConfigVariable, fallback: boolean): boolean {
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

function databaseUrl(env: Env, name: ConfigVariable): string | undefined {
  return urlSetting(env, name, ["postgres:", "postgresql:"], "postgres://user:pass@host:port/db");
}

/** `example`, when given, is shown in the error for text that is not a URL. */
function urlSetting(env: Env, name: ConfigVariable, protocols: string[], example?: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, example ? `not a URL (expected ${example})` : "not a URL");
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `protocol must be ${protocols.join(" or ")}, got ${parsed.protocol}`);
  }
  return raw;
}

function secretKey(env: Env): Uint8Array | undefined {
  const raw = env.WEBHOOK_SECRET_KEY;
  if (raw === undefined || raw === "") return undefined;
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(raw.trim()), (c) => c.charCodeAt(0));
  } catch {
    throw new ConfigError("WEBHOOK_SECRET_KEY", "not base64 (generate one with `openssl rand -base64 32`)");
  }
  if (bytes.length !== 32) throw new ConfigError("WEBHOOK_SECRET_KEY", `must be 32 bytes, got ${bytes.length}`);
  return bytes;
}

const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** Reads and validates the configuration; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = configEnvironment()): Config {
  const url = databaseUrl(env, "DATABASE_URL");
  const logLevel = env.LOG_LEVEL || "info"; // empty means unset, as for every variable
  if (!isOneOf(LOG_LEVELS, logLevel)) {
    throw new ConfigError("LOG_LEVEL", `"${logLevel}" is not one of debug, info, warn, error`);
  }
  const logFormat = env.LOG_FORMAT || "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new ConfigError("LOG_FORMAT", `"${logFormat}" is not one of text, json`);
  }
  const rollbackWindowHours = integer(env, "ROLLBACK_WINDOW_HOURS", 24, 1, 24 * 365);
  const retentionDays = integer(env, "BULK_RETENTION_DAYS", 90, 1, 36_500);
  if (retentionDays * 24 < rollbackWindowHours) {
    throw new ConfigError(
      "BULK_RETENTION_DAYS",
      `${retentionDays} days is shorter than ROLLBACK_WINDOW_HOURS (${rollbackWindowHours} h): operations could ` +
        "be deleted while they may still be rolled back",
    );
  }
  const notifyRetentionDays = integer(env, "NOTIFY_RETENTION_DAYS", Math.min(30, retentionDays), 1, 3650);
  if (notifyRetentionDays > retentionDays) {
    throw new ConfigError(
      "NOTIFY_RETENTION_DAYS",
      `${notifyRetentionDays} days is longer than BULK_RETENTION_DAYS (${retentionDays}): an operation's ` +
        "notification history would outlive the operation itself",
    );
  }
  const exportRetentionDays = integer(env, "EXPORT_RETENTION_DAYS", Math.min(7, retentionDays), 1, 36_500);
  if (exportRetentionDays > retentionDays) {
    throw new ConfigError(
      "EXPORT_RETENTION_DAYS",
      `${exportRetentionDays} days is longer than BULK_RETENTION_DAYS (${retentionDays}): the export's ` +
        "operation would be deleted, file included, before the file expires",
    );
  }
  const leaseMs = integer(env, "BULK_LEASE_MS", 30_000, 1000, 3_600_000);
  const config: Config = {
    port: integer(env, "PORT", 4000, 0, 65535),
    host: env.HOST || "127.0.0.1",
    databaseUrl: url,
    listenDatabaseUrl: databaseUrl(env, "LISTEN_DATABASE_URL"),
    listenCheckMs: integer(env, "LISTEN_CHECK_MS", 5000, 100, 600_000),
    dataDir: env.DATA_DIR || ".data",
    embeddedPgPort: integer(env, "EMBEDDED_PG_PORT", 54329, 1, 65535),
    dbPoolSize: integer(env, "DB_POOL_SIZE", 10, 1, 200),
    dbKeepAliveMs: integer(env, "DB_KEEPALIVE_MS", DEFAULT_KEEPALIVE_MS, 1000, 7_200_000),
    seedDemo: boolean(env, "SEED_DEMO", url === undefined),
    workers: integer(env, "WORKERS", navigator.hardwareConcurrency ?? 2, 0, 64),
    chunkSize: integer(env, "BULK_CHUNK_SIZE", 2000, 1, 10000),
    exportChunkSize: integer(env, "BULK_EXPORT_CHUNK_SIZE", 20_000, 1, 100_000),
    maxTargets: integer(env, "BULK_MAX_TARGETS", 1_000_000, 1, 10_000_000),
    maxActivePerUser: integer(env, "BULK_MAX_ACTIVE_PER_USER", 2, 1, 1000),
    maxStartsPerMinute: integer(env, "BULK_MAX_STARTS_PER_MINUTE", 30, 1, 100_000),
    maxWaitingPerUser: integer(env, "BULK_MAX_WAITING_PER_USER", 20, 0, 100_000),
    leaseMs,
    chunkTimeoutMs: integer(env, "BULK_CHUNK_TIMEOUT_MS", 120_000, 100, 86_400_000),
    lockTimeoutMs: integer(env, "BULK_LOCK_TIMEOUT_MS", leaseMs, 100, 3_600_000),
    statementTimeoutMs: integer(env, "BULK_STMT_TIMEOUT_MS", 60_000, 100, 86_400_000),
    idleInTransactionTimeoutMs: integer(env, "BULK_IDLE_TX_TIMEOUT_MS", 2 * leaseMs, 1000, 7_200_000),
    maxAttempts: integer(env, "BULK_MAX_ATTEMPTS", 5, 1, 100),
    pollMs: integer(env, "BULK_POLL_MS", 1000, 10, 60_000),
    shutdownGraceMs: integer(env, "SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    rollbackWindowHours,
    retentionDays,
    exportRetentionDays,
    maxQueryDepth: integer(env, "GRAPHQL_MAX_DEPTH", 12, 2, 100),
    maxQueryCost: integer(env, "GRAPHQL_MAX_COST", 25_000, 100, 10_000_000),
    maxTokens: integer(env, "GRAPHQL_MAX_TOKENS", 5000, 100, 1_000_000),
    maxAliases: integer(env, "GRAPHQL_MAX_ALIASES", 30, 0, 10_000),
    maxDirectives: integer(env, "GRAPHQL_MAX_DIRECTIVES", 20, 0, 10_000),
    maxRootFields: integer(env, "GRAPHQL_MAX_ROOT_FIELDS", 20, 1, 10_000),
    maxMutations: integer(env, "GRAPHQL_MAX_MUTATIONS", 5, 1, 1000),
    costBucketSize: integer(env, "GRAPHQL_COST_BUCKET_SIZE", 50_000, 1, 1_000_000_000),
    costRestoreRate: integer(env, "GRAPHQL_COST_RESTORE_RATE", 2_500, 1, 1_000_000_000),
    maxBodyBytes: integer(env, "MAX_BODY_BYTES", 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    uploadMaxBytes: integer(env, "UPLOAD_MAX_BYTES", 1024 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
    logLevel,
    publicUrl: (urlSetting(env, "PUBLIC_URL", ["http:", "https:"]) ?? `http://localhost:${env.PORT || 4000}`)
      .replace(/\/+$/, ""),
    webhookSecretKey: secretKey(env),
    webhookTimeoutMs: integer(env, "WEBHOOK_TIMEOUT_MS", 10_000, 100, 120_000),
    webhookMaxConsecutiveFailures: integer(env, "WEBHOOK_MAX_CONSECUTIVE_FAILURES", 20, 1, 10_000),
    webhookSecretOverlapHours: integer(env, "WEBHOOK_SECRET_OVERLAP_HOURS", 24, 0, 24 * 30),
    webhookAllowPrivateNetworks: boolean(env, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", false),
    notifyRetryBaseMs: integer(env, "NOTIFY_RETRY_BASE_MS", 10_000, 10, 3_600_000),
    notifyPollMs: integer(env, "NOTIFY_POLL_MS", 1000, 10, 60_000),
    notifyRetentionDays,
    smtpUrl: urlSetting(env, "SMTP_URL", ["smtp:", "smtps:"]),
    smtpFrom: env.SMTP_FROM || "bulk-ops <noreply@localhost>",
    logFormat,
    metricsPort: integer(env, "METRICS_PORT", 9464, 0, 65535),
    workerStaleMs: integer(env, "WORKER_STALE_MS", 30_000, 1000, 3_600_000),
    wsMaxSocketsPerToken: integer(env, "WS_MAX_SOCKETS_PER_TOKEN", 8, 1, 10_000),
    wsMaxSubscriptionsPerSocket: integer(env, "WS_MAX_SUBSCRIPTIONS_PER_SOCKET", 16, 1, 10_000),
    sseMaxStreamsPerToken: integer(env, "SSE_MAX_STREAMS_PER_TOKEN", 8, 1, 10_000),
    wsConnectionInitTimeoutMs: integer(env, "WS_CONNECTION_INIT_TIMEOUT_MS", 3000, 100, 60_000),
    bodyReadTimeoutMs: integer(env, "BODY_READ_TIMEOUT_MS", 30_000, 100, 600_000),
    headerReadTimeoutMs: integer(env, "HEADER_READ_TIMEOUT_MS", 10_000, 100, 600_000),
    maxExecutionMs: integer(env, "GRAPHQL_MAX_EXECUTION_MS", 30_000, 100, 3_600_000),
    tokenSweepMs: integer(env, "TOKEN_SWEEP_MS", 5000, 100, 300_000),
    production: env.NODE_ENV === "production",
    corsOrigins: corsOrigins(env),
    trustedDocumentsOnly: boolean(env, "GRAPHQL_TRUSTED_DOCUMENTS_ONLY", false),
  };
  if (config.costBucketSize < config.maxQueryCost) {
    // A query the cost limit allows must fit in a full bucket, or it could never run.
    throw new ConfigError(
      "GRAPHQL_COST_BUCKET_SIZE",
      `${config.costBucketSize} is below GRAPHQL_MAX_COST (${config.maxQueryCost})`,
    );
  }
  return config;
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
