/**
 * Process-level settings and signals that other tests do not reach: HOST binds the interface
 * it names, DB_POOL_SIZE bounds the API process's connections, and SIGINT (Ctrl-C) stops the
 * API process and `deno task worker` as cleanly as SIGTERM does.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { holdTicketLocks } from "./helpers/api.ts";
import { freshDatabase } from "./helpers/database.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import { ticketId } from "./helpers/tickets.ts";
import { createDb } from "../src/db/database.ts";
import { migrate } from "../src/db/migrate.ts";
import { waitUntil, within } from "./helpers/wait.ts";
import { spawnWorker } from "./helpers/worker_process.ts";
import { spawnApi } from "./helpers/api_process.ts";

Deno.test("HOST: the server listens on the interface it names, and only there", async () => {
  // 127.0.0.2 is loopback too on Linux, but a different address from the default 127.0.0.1.
  await using server = await startTestServer({ env: { HOST: "127.0.0.2" } });
  const url = new URL(server.url);
  expect(url.hostname).toBe("127.0.0.2");
  const health = await fetch(`${server.url}/health`);
  expect([health.status, await health.json()]).toEqual([200, { status: "ok" }]);
  await expect(Deno.connect({ hostname: "127.0.0.1", port: Number(url.port) })).rejects.toThrow(
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("DB_POOL_SIZE: the API process never holds more connections than it says", async () => {
  const POOL = 3;
  await using server = await startTestServer({ tickets: 1, env: { DB_POOL_SIZE: String(POOL) } });
  const [{ id }] = await server.db.selectFrom("tickets").select("id").execute();
  await using gate = await holdTicketLocks(server.databaseUrl, [id]);
  const apiConnections = async () => {
    const { rows } = await sql<{ all: number; waiting: number }>`
        SELECT count(*)::int AS all, count(*) FILTER (WHERE wait_event_type = 'Lock')::int AS waiting
        FROM pg_stat_activity WHERE application_name = 'bulk-ops api' AND datname = current_database()`
      .execute(server.db);
    return rows[0];
  };
  // Twice the pool's worth of updates of the locked ticket: each holds a connection while it waits.
  const updates = Array.from({ length: POOL * 2 }, (_, i) =>
    gql(
      server.graphqlUrl,
      server.tenant.agent.token,
      `mutation($input: UpdateTicketInput!) { updateTicket(input: $input) { ticket { version } userErrors { code } } }`,
      { input: { id: ticketId(id), title: `title ${i}` } },
    ));
  await waitUntil(async () => (await apiConnections()).waiting === POOL, {
    timeoutMs: 20_000,
    what: `${POOL} API connections wait on the ticket's row lock`,
    describe: apiConnections,
  });
  // Every request was sent before the wait above; with a pool larger than POOL the other three
  // would open connections and reach the lock within milliseconds of the first three. Watched
  // for a stated 2 s (margin for a loaded machine), every sample must show exactly POOL.
  const samples: { all: number; waiting: number }[] = [];
  for (const until = Date.now() + 2000; Date.now() < until;) {
    samples.push(await apiConnections());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(samples.filter((sample) => sample.all !== POOL || sample.waiting !== POOL)).toEqual([]);

  await gate.release();
  const results = await within(Promise.all(updates), 30_000, "the queued updates finish after the release");
  expect(results.map((r) => r.data.updateTicket.userErrors)).toEqual(updates.map(() => []));
  expect(results.map((r) => r.data.updateTicket.ticket.version).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7]);
});

Deno.test("SIGINT stops the API process: exit 0, port closed, every database connection gone", async () => {
  const databaseUrl = await freshDatabase();
  await migrate(databaseUrl);
  await using api = await spawnApi({ DATABASE_URL: databaseUrl, PORT: "0", WORKERS: "1", SEED_DEMO: "0" });
  await using db = createDb(databaseUrl, { poolSize: 1, applicationName: "test observer" });
  const { url } = api;
  expect((await fetch(`${url}/health`)).status).toBe(200);
  const connections = async () => {
    const { rows } = await sql<{ name: string }>`SELECT application_name AS name FROM pg_stat_activity
        WHERE datname = current_database() AND application_name LIKE 'bulk-ops%' ORDER BY 1`.execute(db);
    return rows.map((r) => r.name);
  };
  expect(await connections()).toEqual(expect.arrayContaining(["bulk-ops listen", "bulk-ops pool"]));

  api.signal("SIGINT");
  const status = await within(api.exited, 30_000, "the API process exits after SIGINT");
  expect(status.code).toBe(0);
  expect(api.lines.some((l) => /shutting down/.test(l))).toBe(true);
  expect(api.lines.at(-1)).toMatch(/stopped/);
  const { hostname, port } = new URL(url);
  await expect(Deno.connect({ hostname, port: Number(port) })).rejects.toThrow(Deno.errors.ConnectionRefused);
  await waitUntil(async () => (await connections()).length === 0, {
    timeoutMs: 10_000,
    what: "the API process's connections are closed",
    describe: connections,
  });
});

Deno.test("SIGINT stops `deno task worker`: exit 0 after its threads stop", async () => {
  const databaseUrl = await freshDatabase();
  await using worker = await spawnWorker({ DATABASE_URL: databaseUrl, WORKERS: "1" });
  worker.signal("SIGINT");
  const status = await within(worker.exited, 30_000, "the worker process exits after SIGINT");
  // Its output in the failure message: an exit by the signal itself (130) means no listener caught it.
  expect({ code: status.code, lines: status.code === 0 ? [] : worker.lines }).toEqual({ code: 0, lines: [] });
  expect(worker.lines.some((l) => /stopping: finishing in-flight chunks/.test(l))).toBe(true);
  expect(worker.lines.some((l) => /\bstopped\b/.test(l))).toBe(true);
});
