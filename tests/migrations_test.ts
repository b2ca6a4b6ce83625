/**
 * The migration runner on real, empty databases: applies every migrations/*.sql in order and
 * records it; a second run applies nothing; concurrent runners apply each migration exactly
 * once (advisory lock); a failing migration leaves nothing behind. /ready reflects it.
 */
import { expect } from "expect";
import pg from "pg";
import { migrate, readMigrations } from "../src/db/migrate.ts";
import { startTestServer } from "./helpers/server.ts";

/** A brand-new database with nothing in it (not cloned from the migrated template). */
async function emptyDatabase(): Promise<string> {
  const admin = Deno.env.get("TEST_PG_URL");
  if (!admin) throw new Error("TEST_PG_URL is unset: run the tests with `deno task test`");
  const name = `m_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

async function query<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

Deno.test("migrations: numbered files in order, recorded, and a second run applies nothing", async () => {
  const all = await readMigrations();
  const names = all.map((m) => m.name);
  expect(names.length).toBeGreaterThanOrEqual(2);
  expect(names).toEqual([...names].sort());
  expect(names.every((n) => /^\d{4}_[a-z0-9_]+\.sql$/.test(n))).toBe(true);

  const url = await emptyDatabase();
  expect(await migrate(url)).toEqual(names);
  const recorded = await query<{ name: string }>(url, "SELECT name FROM schema_migrations ORDER BY name");
  expect(recorded.map((r) => r.name)).toEqual(names);
  const tables = await query<{ t: string }>(url, "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'");
  expect(tables.map((r) => r.t)).toEqual(
    expect.arrayContaining(["tenants", "users", "api_tokens", "tickets", "ticket_comments"]),
  );

  expect(await migrate(url)).toEqual([]);
  expect(await migrate(url)).toEqual([]);
  expect((await query(url, "SELECT name FROM schema_migrations")).length).toBe(names.length);
});

Deno.test("migrations: concurrent runners apply each migration exactly once", async () => {
  const url = await emptyDatabase();
  const results = await Promise.all([migrate(url), migrate(url), migrate(url), migrate(url)]);
  const applied = results.flat();
  expect(applied.sort()).toEqual((await readMigrations()).map((m) => m.name));
  expect(results.filter((r) => r.length > 0).length).toBe(1);
});

Deno.test("migrations: a failing migration is rolled back and not recorded; the next run retries it", async () => {
  const url = await emptyDatabase();
  const all = await readMigrations();
  const broken = { name: "9999_broken.sql", sql: "CREATE TABLE half_done (id int); SELECT 1 / 0;" };
  await expect(migrate(url, [...all, broken])).rejects.toThrow(/migration 9999_broken.sql failed: division by zero/);
  // The good ones before it were applied and kept; the broken one left no table and no record.
  const recorded = await query<{ name: string }>(url, "SELECT name FROM schema_migrations ORDER BY name");
  expect(recorded.map((r) => r.name)).toEqual(all.map((m) => m.name));
  expect(await query(url, "SELECT 1 FROM pg_tables WHERE tablename = 'half_done'")).toEqual([]);
  // Fixed, it applies on the next run, and only it.
  expect(await migrate(url, [...all, { name: broken.name, sql: "CREATE TABLE half_done (id int);" }])).toEqual([
    broken.name,
  ]);
});

Deno.test("/health and /ready: ready when every migration is applied, 503 naming the pending ones otherwise", async () => {
  const server = await startTestServer();
  try {
    expect(await migrate(server.databaseUrl)).toEqual([]); // the template is fully migrated
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", workers: 0 }); // WORKERS=0, no worker process

    const last = (await readMigrations()).at(-1)!.name;
    await query(server.databaseUrl, `DELETE FROM schema_migrations WHERE name = '${last}'`);
    const pending = await fetch(`${server.url}/ready`);
    expect(pending.status).toBe(503);
    expect(await pending.json()).toEqual({ status: "not ready", pendingMigrations: [last] });
    // /health is about the process only.
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    await query(server.databaseUrl, `INSERT INTO schema_migrations (name) VALUES ('${last}')`);
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
  } finally {
    await server.stop();
  }
});
