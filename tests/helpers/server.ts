/**
 * The real server on a random port over a fresh database, with a tenant of three users
 * (admin, agent, viewer) and a second tenant, each with a minted API token.
 */
import { type App, startApp } from "../../src/app.ts";
import type { BulkDomain } from "../../src/bulk/action.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { createDb, type Db } from "../../src/db/database.ts";
import { mintToken } from "../../src/auth/tokens.ts";
import { insertTickets } from "../../src/tickets/seed.ts";
import { freshDatabase } from "./database.ts";

export interface TestUser {
  id: string;
  email: string;
  token: string;
}

export interface TestTenant {
  id: string;
  admin: TestUser;
  agent: TestUser;
  viewer: TestUser;
}

export interface TestServer {
  app: App;
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  databaseUrl: string;
  config: Config;
  /** A separate connection pool for assertions and setup. */
  db: Db;
  tenant: TestTenant;
  otherTenant: TestTenant;
  /** Stops the app and closes `db`; once (later calls wait for the first). */
  stop(): Promise<void>;
  /** `await using server = await startTestServer()` stops it when the scope ends. */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface TestServerOptions {
  /** Environment overrides (e.g. { WORKERS: "0" }); PORT is always random. */
  env?: Record<string, string>;
  /** Tickets to seed into the main tenant (default 0). */
  tickets?: number;
  /**
   * LISTEN connections go to this port on 127.0.0.1 instead (LISTEN_DATABASE_URL), e.g. a
   * TCP proxy in front of the test PostgreSQL.
   */
  listenPort?: number;
  /** The bulk domain the app runs (services.domain and the worker threads); default the tickets domain. */
  domain?: BulkDomain;
}

let tenantCounter = 0;

function withPort(databaseUrl: string, port: number): string {
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return url.toString();
}

export async function createTenant(db: Db, name: string): Promise<TestTenant> {
  const tenant = await db.insertInto("tenants").values({ name }).returning("id").executeTakeFirstOrThrow();
  const suffix = `${Date.now()}${++tenantCounter}${Math.floor(Math.random() * 1e6)}`;
  const user = async (role: "ADMIN" | "AGENT" | "VIEWER"): Promise<TestUser> => {
    const email = `${role.toLowerCase()}-${suffix}@test.example`;
    const row = await db.insertInto("users").values({ tenant_id: tenant.id, email, name: `${role} ${name}`, role })
      .returning("id").executeTakeFirstOrThrow();
    return { id: row.id, email, token: await mintToken(db, row.id, "test") };
  };
  return { id: tenant.id, admin: await user("ADMIN"), agent: await user("AGENT"), viewer: await user("VIEWER") };
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const databaseUrl = await freshDatabase();
  const listen = options.listenPort === undefined
    ? {}
    : { LISTEN_DATABASE_URL: withPort(databaseUrl, options.listenPort) };
  const config = loadConfig({ WORKERS: "0", ...options.env, ...listen, PORT: "0", DATABASE_URL: databaseUrl });
  const db = createDb(databaseUrl, { poolSize: 4, applicationName: "test assertions" });
  const tenant = await createTenant(db, "Tenant A");
  const otherTenant = await createTenant(db, "Tenant B");
  if (options.tickets) await insertTickets(db, tenant.id, options.tickets);
  const app = await startApp(config, databaseUrl, options.domain);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await app.stop();
      await db.destroy();
    })();
  return {
    app,
    url: app.url,
    graphqlUrl: `${app.url}/graphql`,
    wsUrl: `${app.url.replace("http", "ws")}/graphql`,
    databaseUrl,
    config,
    db,
    tenant,
    otherTenant,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
