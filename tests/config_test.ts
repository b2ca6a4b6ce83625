/**
 * The one config module: defaults, parsing, and a ConfigError naming the variable for every
 * bad value (start-up turns it into a message and exit code 2, see start_test.ts).
 */
import { expect } from "expect";
import { ConfigError, loadConfig } from "../src/config.ts";

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

Deno.test("config: defaults", () => {
  // Every setting, compared whole: a new one must be added here with its default.
  expect(loadConfig({})).toEqual({
    port: 4000,
    host: "127.0.0.1",
    databaseUrl: undefined,
    dataDir: ".data",
    embeddedPgPort: 54329,
    dbPoolSize: 10,
    seedDemo: true, // embedded database: seeded on first start
    workers: navigator.hardwareConcurrency,
    chunkSize: 2000,
    exportChunkSize: 20_000,
    maxTargets: 1_000_000,
    maxActivePerUser: 2,
    maxStartsPerMinute: 30,
    maxWaitingPerUser: 20,
    maxAttempts: 5,
    pollMs: 1000,
    shutdownGraceMs: 10_000,
    rollbackWindowHours: 24,
    maxQueryDepth: 12,
    maxQueryCost: 25_000,
    maxTokens: 5000,
    maxAliases: 30,
    maxDirectives: 20,
    maxRootFields: 20,
    maxMutations: 5,
    costBucketSize: 50_000,
    costRestoreRate: 2_500,
    maxBodyBytes: 16 * 1024 * 1024,
    uploadMaxBytes: 1024 * 1024 * 1024,
    logLevel: "info",
    publicUrl: "http://localhost:4000",
    webhookSecretKey: undefined,
    webhookTimeoutMs: 10_000,
    webhookMaxConsecutiveFailures: 20,
    webhookSecretOverlapHours: 24,
    webhookAllowPrivateNetworks: false,
    notifyRetryBaseMs: 10_000,
    notifyPollMs: 1000,
    notifyRetentionDays: 30,
    smtpUrl: undefined,
    smtpFrom: "bulk-ops <noreply@localhost>",
    retentionDays: 90,
    exportRetentionDays: 7,
    wsMaxSocketsPerToken: 8,
    wsMaxSubscriptionsPerSocket: 16,
    sseMaxStreamsPerToken: 8,
    wsConnectionInitTimeoutMs: 3000,
    bodyReadTimeoutMs: 30_000,
    headerReadTimeoutMs: 10_000,
    maxExecutionMs: 30_000,
    tokenSweepMs: 5000,
    production: false,
    corsOrigins: null,
    trustedDocumentsOnly: false,
    logFormat: "text",
    metricsPort: 9464,
    workerStaleMs: 30_000,
    dbKeepAliveMs: 30_000,
    leaseMs: 30_000,
    chunkTimeoutMs: 120_000,
    lockTimeoutMs: 30_000, // the lease
    statementTimeoutMs: 60_000,
    idleInTransactionTimeoutMs: 60_000, // twice the lease
    listenDatabaseUrl: undefined, // LISTEN on the database itself
    listenCheckMs: 5000,
  });
  // The lock and idle timeouts follow the lease unless set.
  expect(loadConfig({ BULK_LEASE_MS: "5000" })).toMatchObject({
    lockTimeoutMs: 5000,
    idleInTransactionTimeoutMs: 10_000,
  });
  // An external database is not seeded unless asked to.
  expect(loadConfig({ DATABASE_URL: "postgres://u:p@db:5432/app" }).seedDemo).toBe(false);
  expect(loadConfig({ DATABASE_URL: "postgres://u:p@db:5432/app", SEED_DEMO: "1" }).seedDemo).toBe(true);
  // Empty means unset.
  expect(
    loadConfig({ PORT: "", DATABASE_URL: "", WORKERS: "", LOG_LEVEL: "", SEED_DEMO: "", HOST: "", LOG_FORMAT: "" }),
  ).toEqual(
    loadConfig({}),
  );
});

Deno.test("config: values are parsed", () => {
  const config = loadConfig({
    PORT: "0",
    HOST: "0.0.0.0",
    DATABASE_URL: "postgresql://user:secret@localhost:5433/bulk",
    DATA_DIR: "/var/lib/bulk",
    EMBEDDED_PG_PORT: "55000",
    DB_POOL_SIZE: "25",
    SEED_DEMO: "yes",
    WORKERS: "0",
    BULK_CHUNK_SIZE: "500",
    BULK_EXPORT_CHUNK_SIZE: "40000",
    BULK_MAX_TARGETS: "2000000",
    BULK_MAX_ACTIVE_PER_USER: "3",
    BULK_MAX_STARTS_PER_MINUTE: "60",
    BULK_MAX_WAITING_PER_USER: "4",
    BULK_MAX_ATTEMPTS: "7",
    BULK_POLL_MS: "250",
    SHUTDOWN_GRACE_MS: "0",
    GRAPHQL_MAX_DEPTH: "20",
    GRAPHQL_MAX_COST: "5000",
    GRAPHQL_MAX_TOKENS: "800",
    GRAPHQL_MAX_ALIASES: "7",
    GRAPHQL_MAX_DIRECTIVES: "3",
    GRAPHQL_MAX_ROOT_FIELDS: "9",
    GRAPHQL_MAX_MUTATIONS: "2",
    GRAPHQL_COST_BUCKET_SIZE: "9000",
    GRAPHQL_COST_RESTORE_RATE: "150",
    MAX_BODY_BYTES: "2048",
    UPLOAD_MAX_BYTES: "4096",
    LOG_LEVEL: "debug",
    BULK_RETENTION_DAYS: "3",
    ROLLBACK_WINDOW_HOURS: "72",
    LOG_FORMAT: "json",
    METRICS_PORT: "0",
    WORKER_STALE_MS: "5000",
    DB_KEEPALIVE_MS: "5000",
    BULK_LEASE_MS: "4000",
    BULK_CHUNK_TIMEOUT_MS: "9000",
    BULK_LOCK_TIMEOUT_MS: "1500",
    BULK_STMT_TIMEOUT_MS: "7000",
    BULK_IDLE_TX_TIMEOUT_MS: "3000",
    LISTEN_DATABASE_URL: "postgres://user:secret@pg-direct:5432/bulk",
    LISTEN_CHECK_MS: "250",
  });
  expect(config).toEqual({
    port: 0,
    host: "0.0.0.0",
    databaseUrl: "postgresql://user:secret@localhost:5433/bulk",
    dataDir: "/var/lib/bulk",
    embeddedPgPort: 55000,
    dbPoolSize: 25,
    seedDemo: true,
    workers: 0,
    chunkSize: 500,
    exportChunkSize: 40_000,
    maxTargets: 2_000_000,
    maxActivePerUser: 3,
    maxStartsPerMinute: 60,
    maxWaitingPerUser: 4,
    maxAttempts: 7,
    pollMs: 250,
    shutdownGraceMs: 0,
    maxQueryDepth: 20,
    maxQueryCost: 5000,
    maxTokens: 800,
    maxAliases: 7,
    maxDirectives: 3,
    maxRootFields: 9,
    maxMutations: 2,
    costBucketSize: 9000,
    costRestoreRate: 150,
    maxBodyBytes: 2048,
    uploadMaxBytes: 4096,
    logLevel: "debug",
    publicUrl: "http://localhost:0",
    webhookSecretKey: undefined,
    webhookTimeoutMs: 10_000,
    webhookMaxConsecutiveFailures: 20,
    webhookSecretOverlapHours: 24,
    webhookAllowPrivateNetworks: false,
    notifyRetryBaseMs: 10_000,
    notifyPollMs: 1000,
    notifyRetentionDays: 3, // the default follows a shorter BULK_RETENTION_DAYS
    smtpUrl: undefined,
    smtpFrom: "bulk-ops <noreply@localhost>",
    retentionDays: 3,
    exportRetentionDays: 3, // the default follows a shorter BULK_RETENTION_DAYS
    rollbackWindowHours: 72,
    wsMaxSocketsPerToken: 8,
    wsMaxSubscriptionsPerSocket: 16,
    sseMaxStreamsPerToken: 8,
    wsConnectionInitTimeoutMs: 3000,
    bodyReadTimeoutMs: 30_000,
    headerReadTimeoutMs: 10_000,
    maxExecutionMs: 30_000,
    tokenSweepMs: 5000,
    production: false,
    corsOrigins: null,
    trustedDocumentsOnly: false,
    logFormat: "json",
    metricsPort: 0,
    workerStaleMs: 5000,
    dbKeepAliveMs: 5000,
    leaseMs: 4000,
    chunkTimeoutMs: 9000,
    lockTimeoutMs: 1500,
    statementTimeoutMs: 7000,
    idleInTransactionTimeoutMs: 3000,
    listenDatabaseUrl: "postgres://user:secret@pg-direct:5432/bulk",
    listenCheckMs: 250,
  });
  for (
    const [raw, value] of [["1", true], ["true", true], ["ON", true], ["0", false], ["false", false], ["off", false]]
  ) {
    expect(loadConfig({ SEED_DEMO: raw as string }).seedDemo).toBe(value);
  }
});

Deno.test("config: a bad value throws ConfigError naming the variable", () => {
  const cases: [string, string][] = [
    ["PORT", "abc"],
    ["PORT", "80a"],
    ["PORT", "4000.5"],
    ["PORT", "-1"],
    ["PORT", "65536"],
    ["PORT", "1e3"],
    ["WORKERS", "-1"],
    ["WORKERS", "many"],
    ["WORKERS", "65"],
    ["DATABASE_URL", "not a url"],
    ["DATABASE_URL", "localhost:5432/db"],
    ["DATABASE_URL", "mysql://u:p@localhost/db"],
    ["DATABASE_URL", "http://localhost:5432/db"],
    ["EMBEDDED_PG_PORT", "0"],
    ["DB_POOL_SIZE", "0"],
    ["DB_POOL_SIZE", "ten"],
    ["SEED_DEMO", "maybe"],
    ["LOG_LEVEL", "verbose"],
    ["GRAPHQL_MAX_DEPTH", "1"],
    ["BULK_CHUNK_SIZE", "0"],
    ["BULK_EXPORT_CHUNK_SIZE", "100001"],
    ["BULK_LEASE_MS", "5"],
    ["BULK_RETENTION_DAYS", "0"],
    ["BULK_RETENTION_DAYS", "a month"],
    ["EXPORT_RETENTION_DAYS", "0"],
    ["EXPORT_RETENTION_DAYS", "a week"],
    ["LOG_FORMAT", "xml"],
    ["METRICS_PORT", "65536"],
    ["METRICS_PORT", "x"],
    ["WORKER_STALE_MS", "999"],
    ["DB_KEEPALIVE_MS", "999"],
    ["BULK_CHUNK_TIMEOUT_MS", "soon"],
    ["BULK_LOCK_TIMEOUT_MS", "0"],
    ["BULK_STMT_TIMEOUT_MS", "-1"],
    ["BULK_IDLE_TX_TIMEOUT_MS", "500"],
    ["LISTEN_DATABASE_URL", "pg-direct:5432/bulk"],
    ["LISTEN_DATABASE_URL", "redis://pg-direct/0"],
    ["LISTEN_CHECK_MS", "50"],
  ];
  for (const [variable, value] of cases) {
    const error = configError({ [variable]: value });
    expect({ variable, value, got: error.variable }).toEqual({ variable, value, got: variable });
    expect(error.message).toContain(variable);
    expect(error.name).toBe("ConfigError");
  }
  // Retention may not delete what can still be rolled back.
  expect(configError({ BULK_RETENTION_DAYS: "2", ROLLBACK_WINDOW_HOURS: "72" }).variable).toBe("BULK_RETENTION_DAYS");
  // Notification history may not outlive its operation (bulk retention would cascade into it unbatched).
  const outlives = configError({ BULK_RETENTION_DAYS: "10", NOTIFY_RETENTION_DAYS: "11" });
  expect({ variable: outlives.variable, message: outlives.message }).toEqual({
    variable: "NOTIFY_RETENTION_DAYS",
    message: expect.stringContaining("BULK_RETENTION_DAYS (10)"),
  });
  expect(loadConfig({ BULK_RETENTION_DAYS: "10", NOTIFY_RETENTION_DAYS: "10" }).notifyRetentionDays).toBe(10);
  // An export's file may not outlive its operation (whose deletion takes the file with it).
  const fileOutlives = configError({ BULK_RETENTION_DAYS: "10", EXPORT_RETENTION_DAYS: "11" });
  expect({ variable: fileOutlives.variable, message: fileOutlives.message }).toEqual({
    variable: "EXPORT_RETENTION_DAYS",
    message: expect.stringContaining("BULK_RETENTION_DAYS (10)"),
  });
  expect(loadConfig({ EXPORT_RETENTION_DAYS: "30" }).exportRetentionDays).toBe(30);
  // A bad value is reported even when other variables are fine.
  expect(configError({ PORT: "4001", WORKERS: "x", DATABASE_URL: "postgres://h/db" }).variable).toBe("WORKERS");
});

Deno.test("config: request limits and start caps (issue 15)", () => {
  // Their defaults are in "config: defaults" above, compared whole.
  expect(loadConfig({
    GRAPHQL_MAX_TOKENS: "800",
    GRAPHQL_MAX_ALIASES: "0",
    GRAPHQL_MAX_DIRECTIVES: "3",
    GRAPHQL_MAX_ROOT_FIELDS: "4",
    GRAPHQL_MAX_MUTATIONS: "1",
    GRAPHQL_MAX_COST: "1000",
    GRAPHQL_COST_BUCKET_SIZE: "1000",
    GRAPHQL_COST_RESTORE_RATE: "7",
    BULK_MAX_STARTS_PER_MINUTE: "2",
    BULK_MAX_WAITING_PER_USER: "0",
  })).toMatchObject({
    maxTokens: 800,
    maxAliases: 0,
    maxDirectives: 3,
    maxRootFields: 4,
    maxMutations: 1,
    costBucketSize: 1000,
    costRestoreRate: 7,
    maxStartsPerMinute: 2,
    maxWaitingPerUser: 0,
  });
  for (
    const [variable, value] of [
      ["GRAPHQL_MAX_TOKENS", "10"],
      ["GRAPHQL_MAX_ALIASES", "-1"],
      ["GRAPHQL_MAX_DIRECTIVES", "x"],
      ["GRAPHQL_MAX_ROOT_FIELDS", "0"],
      ["GRAPHQL_MAX_MUTATIONS", "0"],
      ["GRAPHQL_COST_RESTORE_RATE", "0"],
      ["BULK_MAX_STARTS_PER_MINUTE", "0"],
      ["BULK_MAX_WAITING_PER_USER", "-1"],
      // A bucket smaller than the largest query allowed could never run that query.
      ["GRAPHQL_COST_BUCKET_SIZE", "24999"],
    ]
  ) {
    expect({ variable, got: configError({ [variable]: value }).variable }).toEqual({ variable, got: variable });
  }
});

Deno.test("config: notification settings (webhooks, e-mail, links)", () => {
  // Its defaults are in the whole comparison of "config: defaults".
  const key = btoa(String.fromCharCode(...new Uint8Array(32).fill(1)));
  const config = loadConfig({
    PORT: "8080",
    PUBLIC_URL: "https://bulk.example.com/",
    WEBHOOK_SECRET_KEY: key,
    WEBHOOK_TIMEOUT_MS: "2500",
    WEBHOOK_MAX_CONSECUTIVE_FAILURES: "5",
    WEBHOOK_SECRET_OVERLAP_HOURS: "1",
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: "1",
    NOTIFY_RETRY_BASE_MS: "100",
    NOTIFY_POLL_MS: "200",
    NOTIFY_RETENTION_DAYS: "7",
    SMTP_URL: "smtps://user:pw@mail.example.com:465",
    SMTP_FROM: "Ops <ops@example.com>",
  });
  expect(config).toMatchObject({
    publicUrl: "https://bulk.example.com", // trailing slash dropped: links append paths
    webhookSecretKey: new Uint8Array(32).fill(1),
    webhookTimeoutMs: 2500,
    webhookMaxConsecutiveFailures: 5,
    webhookSecretOverlapHours: 1,
    webhookAllowPrivateNetworks: true,
    notifyRetryBaseMs: 100,
    notifyPollMs: 200,
    notifyRetentionDays: 7,
    smtpUrl: "smtps://user:pw@mail.example.com:465",
    smtpFrom: "Ops <ops@example.com>",
  });
  expect(loadConfig({ PORT: "8080" }).publicUrl).toBe("http://localhost:8080");
  const cases: [string, string][] = [
    ["PUBLIC_URL", "bulk.example.com"],
    ["PUBLIC_URL", "ftp://bulk.example.com"],
    ["WEBHOOK_SECRET_KEY", "not base64!"],
    ["WEBHOOK_SECRET_KEY", btoa("too short")],
    ["WEBHOOK_TIMEOUT_MS", "10"],
    ["WEBHOOK_MAX_CONSECUTIVE_FAILURES", "0"],
    ["WEBHOOK_SECRET_OVERLAP_HOURS", "-1"],
    ["WEBHOOK_ALLOW_PRIVATE_NETWORKS", "sometimes"],
    ["NOTIFY_RETRY_BASE_MS", "1"],
    ["NOTIFY_POLL_MS", "0"],
    ["NOTIFY_RETENTION_DAYS", "0"],
    ["SMTP_URL", "mail.example.com"],
    ["SMTP_URL", "http://mail.example.com"],
  ];
  for (const [variable, value] of cases) {
    expect({ variable, value, got: configError({ [variable]: value }).variable }).toEqual({
      variable,
      value,
      got: variable,
    });
  }
});

Deno.test("config: connections, tokens and production mode", () => {
  // Its defaults are in the whole comparison of "config: defaults".
  expect(loadConfig({
    WS_MAX_SOCKETS_PER_TOKEN: "2",
    WS_MAX_SUBSCRIPTIONS_PER_SOCKET: "3",
    SSE_MAX_STREAMS_PER_TOKEN: "4",
    WS_CONNECTION_INIT_TIMEOUT_MS: "500",
    BODY_READ_TIMEOUT_MS: "1000",
    HEADER_READ_TIMEOUT_MS: "1500",
    GRAPHQL_MAX_EXECUTION_MS: "2000",
    TOKEN_SWEEP_MS: "250",
    NODE_ENV: "production",
    CORS_ORIGINS: "https://a.example, http://localhost:3000",
    GRAPHQL_TRUSTED_DOCUMENTS_ONLY: "1",
  })).toMatchObject({
    wsMaxSocketsPerToken: 2,
    wsMaxSubscriptionsPerSocket: 3,
    sseMaxStreamsPerToken: 4,
    wsConnectionInitTimeoutMs: 500,
    bodyReadTimeoutMs: 1000,
    headerReadTimeoutMs: 1500,
    maxExecutionMs: 2000,
    tokenSweepMs: 250,
    production: true,
    corsOrigins: ["https://a.example", "http://localhost:3000"],
    trustedDocumentsOnly: true,
  });
  expect(loadConfig({ CORS_ORIGINS: "*" }).corsOrigins).toEqual(["*"]);
  expect(loadConfig({ NODE_ENV: "development" }).production).toBe(false);
  const bad: [string, string][] = [
    ["WS_MAX_SOCKETS_PER_TOKEN", "0"],
    ["WS_MAX_SUBSCRIPTIONS_PER_SOCKET", "x"],
    ["SSE_MAX_STREAMS_PER_TOKEN", "-1"],
    ["WS_CONNECTION_INIT_TIMEOUT_MS", "10"],
    ["BODY_READ_TIMEOUT_MS", "99"],
    ["HEADER_READ_TIMEOUT_MS", "600001"],
    ["GRAPHQL_MAX_EXECUTION_MS", "0"],
    ["TOKEN_SWEEP_MS", "1000000"],
    ["CORS_ORIGINS", "not an origin"],
    ["CORS_ORIGINS", "https://a.example/path"],
    ["CORS_ORIGINS", "ftp://a.example"],
    ["GRAPHQL_TRUSTED_DOCUMENTS_ONLY", "maybe"],
  ];
  for (const [variable, value] of bad) {
    expect({ variable, value, got: configError({ [variable]: value }).variable }).toEqual({
      variable,
      value,
      got: variable,
    });
  }
});
