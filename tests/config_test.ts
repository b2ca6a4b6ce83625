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

Deno.test("config: connections, tokens and production mode", () => {
  expect(loadConfig({})).toMatchObject({
    wsMaxSocketsPerToken: 8,
    wsMaxSubscriptionsPerSocket: 16,
    sseMaxStreamsPerToken: 8,
    wsConnectionInitTimeoutMs: 3000,
    bodyReadTimeoutMs: 30_000,
    maxExecutionMs: 30_000,
    tokenSweepMs: 5000,
    production: false,
    corsOrigins: null,
    trustedDocumentsOnly: false,
  });
  expect(loadConfig({
    WS_MAX_SOCKETS_PER_TOKEN: "2",
    WS_MAX_SUBSCRIPTIONS_PER_SOCKET: "3",
    SSE_MAX_STREAMS_PER_TOKEN: "4",
    WS_CONNECTION_INIT_TIMEOUT_MS: "500",
    BODY_READ_TIMEOUT_MS: "1000",
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
