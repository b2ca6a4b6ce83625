/**
 * /metrics on the API process, scraped over HTTP and parsed: an operation moves the engine
 * counters by exactly its ledger's counts, the queue gauges read the database at scrape time,
 * HTTP requests are labelled by route, status and a bounded operation name, and open sockets,
 * SSE streams and subscriptions are counted while they are open.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { finished, operation, ticketIds, waitFor } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { gql, wsClient } from "./helpers/graphql.ts";
import { holdTicketLocks, PROGRESS, record, sse, startOk, ticketGid, until } from "./helpers/api.ts";
import { type Sample, scrape, seriesOf, valueOf } from "./helpers/prometheus.ts";
import { takeDatabaseDown } from "./helpers/database.ts";
import { startTestServer } from "./helpers/server.ts";
import { abortOnExit } from "./helpers/sockets.ts";

/** Scrapes until `ready(samples)` holds; fails after 30 s naming what it waited for. */
const scrapeUntil = (url: string, ready: (samples: Sample[]) => boolean, what: string) =>
  until(what, async () => {
    const samples = await scrape(url);
    return ready(samples) ? samples : undefined;
  });

/** after - before for every series of `name` that moved. */
function deltas(before: Sample[], after: Sample[], name: string): Record<string, number> {
  const old = seriesOf(before, name);
  return Object.fromEntries(
    [...seriesOf(after, name)].map(([labels, value]) => [labels, value - (old.get(labels) ?? 0)])
      .filter(([, delta]) => delta !== 0),
  );
}

const labelKey = (labels: Record<string, string>) => JSON.stringify(Object.entries(labels).sort());

Deno.test("/metrics: an operation moves the counters by exactly its ledger's counts; queue gauges come from the database", async () => {
  await using server = await startTestServer({ tickets: 35, env: { WORKERS: "1", BULK_CHUNK_SIZE: "10" } });
  const metricsUrl = `${server.url}/metrics`;
  const ids = await ticketIds(server.db, server.tenant.id);
  const before = await scrape(metricsUrl);
  let op;
  {
    await using _gate = await holdTicketLocks(server.databaseUrl, [ids[25]]); // the one worker blocks in chunk 2
    op = await startOk(server, server.tenant.admin, {
      targets: { ids: [...ids.map(ticketGid), ticketGid("987654321")] }, // 36 items: 4 chunks, one NOT_FOUND
      action: { setStatus: { status: "PENDING" } },
    });
    await waitFor(server.db, op.dbId, (row) => row.succeeded + row.failed + row.skipped === 20);
    // While chunk 2 is blocked: it is running, chunk 3 is ready and waits for the only worker.
    const paused = await scrapeUntil(
      metricsUrl,
      (s) => valueOf(s, "bulk_queue_jobs", { state: "running" }) === 1,
      "chunk 2 running",
    );
    expect(valueOf(paused, "bulk_queue_jobs", { state: "ready" })).toBe(1);
    expect(valueOf(paused, "bulk_queue_jobs", { state: "waiting" })).toBe(0);
    expect(valueOf(paused, "bulk_queue_oldest_ready_job_age_seconds")).toBeGreaterThan(0);
    expect(valueOf(paused, "bulk_workers_alive")).toBe(1);
    expect(valueOf(paused, "db_pool_max_connections", { pool: "api" })).toBe(server.config.dbPoolSize);
  }
  await waitFor(server.db, op.dbId, finished);
  const row = await expectConsistent(server.db, op.dbId);
  // The chunk reports reach the registry by postMessage from the worker thread, after the commit.
  const after = await scrapeUntil(
    metricsUrl,
    (s) => valueOf(s, "bulk_operations_finished_total") - valueOf(before, "bulk_operations_finished_total") === 1,
    "the finished operation to be counted",
  );

  expect(deltas(before, after, "bulk_operations_started_total")).toEqual({
    [labelKey({ kind: "STANDARD", action: "SET_STATUS", status: "RUNNING" })]: 1,
  });
  expect(deltas(before, after, "bulk_operations_finished_total")).toEqual({
    [labelKey({ kind: "STANDARD", action: "SET_STATUS", status: row.status })]: 1,
  });
  const { rows: ledger } = await sql<{ outcome: string; code: string | null; n: number }>`
      SELECT outcome, error_code AS code, count(*)::int AS n FROM bulk_operation_items
      WHERE operation_id = ${op.dbId} GROUP BY 1, 2`.execute(server.db);
  expect(ledger.some((r) => r.code === "NOT_FOUND")).toBe(true);
  expect(deltas(before, after, "bulk_items_total")).toEqual(Object.fromEntries(
    ledger.map((r) => [labelKey({ action: "SET_STATUS", outcome: r.outcome, code: r.code ?? "none" }), r.n]),
  ));
  expect(deltas(before, after, "bulk_chunk_duration_seconds_count")).toEqual({
    [labelKey({ action: "SET_STATUS" })]: 4,
  });
  expect(valueOf(after, "bulk_queue_jobs")).toBe(0);
  expect(valueOf(after, "bulk_queue_oldest_ready_job_age_seconds")).toBe(0);
  expect(valueOf(after, "bulk_leases_rescued_total")).toBe(valueOf(before, "bulk_leases_rescued_total"));
  expect((await operation(server.db, op.dbId)).status).toBe(row.status);
});

Deno.test("/metrics: HTTP requests by route, status and a bounded operation name", async () => {
  await using server = await startTestServer();
  const metricsUrl = `${server.url}/metrics`;
  const before = await scrape(metricsUrl);
  const token = server.tenant.viewer.token;
  expect((await gql(server.graphqlUrl, token, "query WhoAmI { viewer { user { email } } }")).errors).toBeUndefined();
  // A name no client document uses (it could carry an id): collapsed to "other".
  await gql(server.graphqlUrl, token, "query Ticket_8f3a2c { viewer { user { email } } }");
  await gql(server.graphqlUrl, token, "{ viewer { user { email } } }");
  await gql(server.graphqlUrl, null, "query WhoAmI { viewer { user { email } } }"); // unauthenticated
  expect((await fetch(`${server.url}/ready`).then((r) => r.json())).workers).toBe(0);
  await fetch(`${server.url}/no-such-page/123`).then((r) => r.body?.cancel());
  const after = await scrape(metricsUrl);
  const moved = deltas(before, after, "http_requests_total");
  expect(moved).toEqual({
    [labelKey({ route: "/graphql", status: "200", operation: "WhoAmI" })]: 1,
    [labelKey({ route: "/graphql", status: "401", operation: "WhoAmI" })]: 1,
    [labelKey({ route: "/graphql", status: "200", operation: "other" })]: 1,
    [labelKey({ route: "/graphql", status: "200", operation: "none" })]: 1,
    [labelKey({ route: "/ready", status: "200", operation: "none" })]: 1,
    [labelKey({ route: "other", status: "404", operation: "none" })]: 1,
    [labelKey({ route: "/metrics", status: "200", operation: "none" })]: 1, // the first scrape
  });
  expect(deltas(before, after, "http_request_duration_seconds_count")).toEqual(moved);
});

Deno.test("/metrics: open graphql-ws sockets, SSE streams and subscriptions are counted while open", async () => {
  await using server = await startTestServer({ tickets: 5, env: { WORKERS: "0" } });
  const metricsUrl = `${server.url}/metrics`;
  await using client = wsClient(server.wsUrl, server.tenant.admin.token);
  using abort = abortOnExit();
  const ids = await ticketIds(server.db, server.tenant.id);
  // No workers: the operation stays RUNNING, so its progress subscriptions stay open.
  const op = await startOk(server, server.tenant.admin, {
    targets: { ids: ids.map(ticketGid) },
    action: { setStatus: { status: "PENDING" } },
  });
  const base = await scrape(metricsUrl);
  const gauges = (s: Sample[]) => ({
    sockets: valueOf(s, "graphql_ws_sockets_open") - valueOf(base, "graphql_ws_sockets_open"),
    streams: valueOf(s, "graphql_sse_streams_open") - valueOf(base, "graphql_sse_streams_open"),
    subscriptions: valueOf(s, "graphql_subscriptions_active") - valueOf(base, "graphql_subscriptions_active"),
  });
  const ws = record(client, PROGRESS, { id: op.id });
  await ws.waitFor(() => true);
  const events = sse(server.graphqlUrl, server.tenant.admin.token, PROGRESS, { id: op.id }, abort.signal);
  await events.next(); // the snapshot event: the stream is open
  expect(gauges(await scrape(metricsUrl))).toEqual({ sockets: 1, streams: 1, subscriptions: 2 });

  ws.unsubscribe();
  await client.dispose();
  abort.abort();
  await events.return(undefined).catch(() => {});
  const closed = await scrapeUntil(
    metricsUrl,
    (s) => JSON.stringify(gauges(s)) === JSON.stringify({ sockets: 0, streams: 0, subscriptions: 0 }),
    "the socket, the stream and both subscriptions to be counted closed",
  );
  expect(gauges(closed)).toEqual({ sockets: 0, streams: 0, subscriptions: 0 });
});

Deno.test("/metrics during a database outage: the database-read gauges are skipped, db_up is 0, counters stay", async () => {
  await using server = await startTestServer({ env: { WORKERS: "0" } });
  const before = await scrape(`${server.url}/metrics`);
  expect(valueOf(before, "db_up")).toBe(1);
  expect(seriesOf(before, "bulk_queue_jobs").size).toBe(3);
  const outage = await takeDatabaseDown(server.databaseUrl);
  try {
    const during = await scrape(`${server.url}/metrics`); // throws unless 200 text/plain
    expect(valueOf(during, "db_up")).toBe(0);
    expect(seriesOf(during, "bulk_queue_jobs").size).toBe(0);
    expect(seriesOf(during, "bulk_admission_queue_operations").size).toBe(0);
    expect(seriesOf(during, "notification_deliveries_pending").size).toBe(0);
    // This process's counters are still there: the earlier scrape was counted.
    expect(valueOf(during, "http_requests_total", { route: "/metrics", status: "200" })).toBeGreaterThanOrEqual(1);
  } finally {
    await outage.restore();
  }
  const after = await scrape(`${server.url}/metrics`);
  expect(valueOf(after, "db_up")).toBe(1);
  expect(seriesOf(after, "bulk_queue_jobs").size).toBe(3);
});
