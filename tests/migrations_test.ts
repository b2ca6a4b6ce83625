/**
 * The migration runner on real, empty databases: applies every migrations/*.sql in order and
 * records it; a second run applies nothing; concurrent runners apply each migration exactly
 * once (advisory lock); a failing migration leaves nothing behind. /ready reflects it.
 */
import { expect } from "expect";
import { migrate, MigrationFileError, readMigrations } from "../src/db/migrate.ts";
import { connectClient } from "./helpers/pg_client.ts";
import { startTestServer } from "./helpers/server.ts";
import { tempDir } from "./helpers/temp_dir.ts";

/** A brand-new database with nothing in it (not cloned from the migrated template). */
async function emptyDatabase(): Promise<string> {
  const admin = Deno.env.get("TEST_PG_URL");
  if (!admin) throw new Error("TEST_PG_URL is unset: run the tests with `deno task test`");
  const name = `m_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  {
    await using client = await connectClient(admin);
    await client.query(`CREATE DATABASE ${name}`);
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

async function query<T>(url: string, text: string): Promise<T[]> {
  await using client = await connectClient(url);
  return (await client.query(text)).rows as T[];
}

/** The names in migrations/ exactly as the directory lists them, unfiltered. */
async function directoryListing(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(new URL("../migrations/", import.meta.url))) names.push(entry.name);
  return names.sort();
}

Deno.test("migrations: every file of migrations/, numbered 0001..N, recorded, and a second run applies nothing", async () => {
  const listing = await directoryListing();
  const names = (await readMigrations()).map((m) => m.name);
  // Compared with the raw listing, not with readMigrations' own view of it: a file it
  // skipped or misread would show here.
  expect(names).toEqual(listing);
  expect(listing.filter((n) => !/^\d{4}_[a-z0-9_]+\.sql$/.test(n))).toEqual([]);
  // Numbered 0001, 0002, ... with no gap and no repeat: the exact count is the last number.
  expect(listing.map((n) => Number(n.slice(0, 4)))).toEqual(listing.map((_, i) => i + 1));
  expect(names.length).toBe(Number(listing.at(-1)!.slice(0, 4)));

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

Deno.test("migrations: a misnamed file or a number used twice is refused, not skipped", async () => {
  await using temp = await tempDir("migrations-");
  const dir = temp.path;
  const url = new URL(`file://${dir}/`);
  await Deno.writeTextFile(`${dir}/0001_first.sql`, "SELECT 1;");
  expect((await readMigrations(url)).map((m) => m.name)).toEqual(["0001_first.sql"]);
  for (
    const [name, message] of [
      ["0006-x.sql", /0006-x\.sql .* is not a migration \(NNNN_name\.sql\)/],
      ["6_short.sql", /6_short\.sql .* is not a migration/],
      ["0002_Upper.sql", /0002_Upper\.sql .* is not a migration/],
      [
        "0001_again.sql",
        /0001_again\.sql and 0001_first\.sql share the number 0001|0001_first\.sql and 0001_again\.sql share the number 0001/,
      ],
    ] as const
  ) {
    await Deno.writeTextFile(`${dir}/${name}`, "SELECT 1;");
    await expect(readMigrations(url)).rejects.toThrow(MigrationFileError);
    await expect(readMigrations(url)).rejects.toThrow(message);
    await Deno.remove(`${dir}/${name}`);
  }
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
  await using server = await startTestServer();
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
});

Deno.test("/ready is 503 while the database refuses connections and 200 once it is back; /health stays 200", async () => {
  await using server = await startTestServer();
  const admin = Deno.env.get("TEST_PG_URL")!;
  const database = new URL(server.databaseUrl).pathname.slice(1);
  try {
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
    // The database goes away for this server: no new connections, the open ones cut.
    await query(admin, `ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
    await query(admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}'`);
    for (let i = 0; i < 3; i++) {
      const down = await fetch(`${server.url}/ready`);
      expect(down.status).toBe(503);
      // A pooled connection cut under it, or a new one refused: both are "not ready", and the raw
      // database message (it may name hosts, users or databases) stays in the server log.
      expect(await down.json()).toEqual({ status: "not ready", error: "database unavailable" });
    }
    const health = await fetch(`${server.url}/health`);
    expect([health.status, await health.json()]).toEqual([200, { status: "ok" }]);

    await query(admin, `ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    const back = await fetch(`${server.url}/ready`);
    expect([back.status, await back.json()]).toEqual([200, { status: "ready", workers: 0 }]);
  } finally {
    await query(admin, `ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
  }
});
