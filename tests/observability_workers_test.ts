/**
 * `deno task worker` processes as real subprocesses: each serves its own /metrics on
 * METRICS_PORT, registers its threads (the `workers` query, /ready's count), disappears from
 * `workers` within WORKER_STALE_MS of being killed, and deregisters at once on SIGTERM; the
 * next worker's rescuer puts the killed one's lease back and counts it.
 */
import { expect } from "expect";
import { finished, ticketIds, waitFor } from "./helpers/bulk.ts";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { gql } from "./helpers/graphql.ts";
import { holdTicketLocks, startOk, ticketGid, until } from "./helpers/api.ts";
import { type Sample, scrape, valueOf } from "./helpers/prometheus.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { spawnWorker } from "./helpers/worker_process.ts";

const WORKERS = `{ workers { id host pid processKind startedAt lastSeenAt chunksDone } }`;

interface WorkerView {
  id: string;
  pid: number;
  processKind: string;
  chunksDone: number;
}

async function workersOf(server: TestServer): Promise<WorkerView[]> {
  const result = await gql(server.graphqlUrl, server.tenant.admin.token, WORKERS);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data.workers;
}

const itemsOf = (samples: Sample[]) => valueOf(samples, "bulk_items_total");
const chunksOf = (samples: Sample[]) => valueOf(samples, "bulk_chunk_duration_seconds_count");

Deno.test("worker processes: own /metrics port, registered in `workers`, a killed one leaves after WORKER_STALE_MS", async () => {
  await using server = await startTestServer({ tickets: 30, env: { WORKERS: "0", BULK_CHUNK_SIZE: "10" } });
  const staleMs = 2000;
  const env = {
    DATABASE_URL: server.databaseUrl,
    WORKERS: "1",
    BULK_CHUNK_SIZE: "10",
    BULK_LEASE_MS: "1500",
    // Chunk 1 waits at the test's row lock until the kill: a lock timeout (default BULK_LEASE_MS)
    // would end that wait every 1.5 s and leave the chunk unleased in backoff, where neither the
    // `running` gauge nor the rescue below would see it.
    BULK_LOCK_TIMEOUT_MS: "60000",
    BULK_POLL_MS: "200",
    WORKER_STALE_MS: String(staleMs),
  };
  await using first = await spawnWorker(env);
  const registered = await workersOf(server);
  expect(registered).toEqual([expect.objectContaining({ pid: first.pid, processKind: "WORKER", chunksDone: 0 })]);
  expect((await fetch(`${server.url}/ready`).then((r) => r.json())).workers).toBe(1);
  // Service-wide infrastructure: admins only.
  const asAgent = await gql(server.graphqlUrl, server.tenant.agent.token, WORKERS);
  expect(asAgent.errors?.[0].extensions?.code).toBe("FORBIDDEN");

  const ids = await ticketIds(server.db, server.tenant.id);
  await using gate = await holdTicketLocks(server.databaseUrl, [ids[15]]); // chunk 1 blocks in the first worker
  const op = await startOk(server, server.tenant.admin, {
    targets: { ids: [...ids.map(ticketGid), ticketGid("987654321")] }, // 31 items, 4 chunks
    action: { setStatus: { status: "PENDING" } },
  });
  const firstMetrics = await until("the first worker's /metrics to count chunk 0", async () => {
    const samples = await scrape(first.metricsUrl);
    return chunksOf(samples) === 1 ? samples : undefined;
  });
  expect(itemsOf(firstMetrics)).toBe(10);
  expect(valueOf(firstMetrics, "bulk_queue_jobs", { state: "running" })).toBe(1);
  expect(valueOf(firstMetrics, "bulk_workers_alive")).toBe(1);
  expect(valueOf(firstMetrics, "db_pool_max_connections", { pool: "worker" })).toBe(2);
  await until("the heartbeat to report the chunk", async () => {
    const [worker] = await workersOf(server);
    return worker?.chunksDone === 1 ? worker : undefined;
  });

  first.signal("SIGKILL");
  expect((await first.exited).success).toBe(false);
  const killedAt = Date.now();
  await until("the killed worker to leave `workers`", async () => {
    return (await workersOf(server)).length === 0 ? true : undefined;
  }, staleMs * 10);
  console.log(
    `killed worker left \`workers\` ${Date.now() - killedAt} ms after its exit (WORKER_STALE_MS=${staleMs})`,
  );
  expect((await fetch(`${server.url}/ready`).then((r) => r.json())).workers).toBe(0);
  await gate.release();

  // A long stale interval: only its deregistration at SIGTERM can remove this one's row quickly.
  await using second = await spawnWorker({ ...env, WORKER_STALE_MS: "600000" });
  await waitFor(server.db, op.dbId, finished, 60_000);
  await expectConsistent(server.db, op.dbId);
  const secondMetrics = await until("the second worker's /metrics to count the 3 remaining chunks", async () => {
    const samples = await scrape(second.metricsUrl);
    return chunksOf(samples) === 3 ? samples : undefined;
  });
  expect(itemsOf(secondMetrics)).toBe(21);
  // The killed worker's lease on chunk 1 expired and this process's rescuer re-queued it.
  expect(valueOf(secondMetrics, "bulk_leases_rescued_total")).toBe(1);
  expect(valueOf(secondMetrics, "bulk_operations_finished_total")).toBe(1);
  expect((await workersOf(server)).map((w) => w.pid)).toEqual([second.pid]);

  second.signal("SIGTERM");
  expect((await second.exited).code).toBe(0);
  expect(await workersOf(server)).toEqual([]);
});
