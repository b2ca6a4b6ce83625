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
    dbKeepAliveMs: 30_000,
    leaseMs: 30_000,
    chunkTimeoutMs: 120_000,
    lockTimeoutMs: 30_000, // the lease
    statementTimeoutMs: 60_000,
    idleInTransactionTimeoutMs: 60_000, // twice the lease
    listenDatabaseUrl: undefined, // LISTEN on the database itself
    listenCheckMs: 5000,
  });
  expect(config.workers).toBe(navigator.hardwareConcurrency);
  // The lock and idle timeouts follow the lease unless set.
  expect(loadConfig({ BULK_LEASE_MS: "5000" })).toMatchObject({
    lockTimeoutMs: 5000,
    idleInTransactionTimeoutMs: 10_000,
  });
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
    DB_KEEPALIVE_MS: "5000",
    BULK_LEASE_MS: "4000",
    BULK_CHUNK_TIMEOUT_MS: "9000",
    BULK_LOCK_TIMEOUT_MS: "1500",
    BULK_STMT_TIMEOUT_MS: "7000",
    BULK_IDLE_TX_TIMEOUT_MS: "3000",
    LISTEN_DATABASE_URL: "postgres://user:secret@pg-direct:5432/bulk",
    LISTEN_CHECK_MS: "250",
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
    ["BULK_LEASE_MS", "5"],
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
  // A bad value is reported even when other variables are fine.
  expect(configError({ PORT: "4001", WORKERS: "x", DATABASE_URL: "postgres://h/db" }).variable).toBe("WORKERS");
});
