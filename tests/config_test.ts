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
  const config = loadConfig({});
  expect(config).toMatchObject({
    port: 4000,
    host: "127.0.0.1",
    databaseUrl: undefined,
    dataDir: ".data",
    embeddedPgPort: 54329,
    dbPoolSize: 10,
    seedDemo: true, // embedded database: seeded on first start
    maxQueryDepth: 12,
    logLevel: "info",
  });
  expect(config.workers).toBe(navigator.hardwareConcurrency);
  // An external database is not seeded unless asked to.
  expect(loadConfig({ DATABASE_URL: "postgres://u:p@db:5432/app" }).seedDemo).toBe(false);
  expect(loadConfig({ DATABASE_URL: "postgres://u:p@db:5432/app", SEED_DEMO: "1" }).seedDemo).toBe(true);
  // Empty means unset.
  expect(loadConfig({ PORT: "", DATABASE_URL: "", WORKERS: "", LOG_LEVEL: "", SEED_DEMO: "", HOST: "" })).toEqual(
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
    GRAPHQL_MAX_DEPTH: "20",
    LOG_LEVEL: "debug",
  });
  expect(config).toMatchObject({
    port: 0,
    host: "0.0.0.0",
    databaseUrl: "postgresql://user:secret@localhost:5433/bulk",
    dataDir: "/var/lib/bulk",
    embeddedPgPort: 55000,
    dbPoolSize: 25,
    seedDemo: true,
    workers: 0,
    maxQueryDepth: 20,
    logLevel: "debug",
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
    ["BULK_LEASE_MS", "5"],
  ];
  for (const [variable, value] of cases) {
    const error = configError({ [variable]: value });
    expect({ variable, value, got: error.variable }).toEqual({ variable, value, got: variable });
    expect(error.message).toContain(variable);
    expect(error.name).toBe("ConfigError");
  }
  // A bad value is reported even when other variables are fine.
  expect(configError({ PORT: "4001", WORKERS: "x", DATABASE_URL: "postgres://h/db" }).variable).toBe("WORKERS");
});

Deno.test("config: notification settings (webhooks, e-mail, links)", () => {
  expect(loadConfig({})).toMatchObject({
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
  });
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
