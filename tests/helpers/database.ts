/** A fresh database per call (each test server), cloned from the migrated template that tests/run.ts made. */
import pg from "pg";
import { APP_ROLE } from "../../src/db/embedded.ts";
import { connectClient } from "./pg_client.ts";

export const TEMPLATE_DATABASE = "bulk_template";

function requiredEnv(name: "TEST_PG_URL" | "TEST_APP_PG_URL"): string {
  const url = Deno.env.get(name);
  if (!url) throw new Error(`${name} is unset: run the tests with \`deno task test\``);
  return url;
}

const adminUrl = () => requiredEnv("TEST_PG_URL");

/** Creates `t_<random>` from the template, owned by the service's role, and returns its URL as that role. */
export async function freshDatabase(): Promise<string> {
  const name = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  {
    await using client = await connectClient(adminUrl());
    await client.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE} OWNER ${APP_ROLE}`);
  }
  const url = new URL(requiredEnv("TEST_APP_PG_URL"));
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Makes the database of `databaseUrl` refuse new connections and cuts the open ones (a
 * database outage as the service sees it); `restore` lets connections in again.
 */
export async function takeDatabaseDown(databaseUrl: string): Promise<{ restore(): Promise<void> }> {
  const database = pg.escapeIdentifier(new URL(databaseUrl).pathname.slice(1));
  const run = async (text: string) => {
    await using client = await connectClient(adminUrl());
    await client.query(text);
  };
  await run(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS false`);
  await run(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${
    pg.escapeLiteral(
      new URL(databaseUrl).pathname.slice(1),
    )
  }`);
  return { restore: () => run(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS true`) };
}
