/**
 * Progress made by another process reaches the API's subscribers: the API runs with no
 * workers (WORKERS=0) and a separate `deno task worker` process works the operation; its
 * per-chunk NOTIFYs arrive on the API's one LISTEN connection.
 */
import { expect } from "expect";
import { expectConsistent } from "./helpers/bulk_checks.ts";
import { operation, ticketIds } from "./helpers/bulk.ts";
import { wsClient } from "./helpers/graphql.ts";
import {
  holdTicketLocks,
  ledgerCounts,
  type OperationView,
  PROGRESS,
  record,
  startOk,
  ticketGid,
  within,
} from "./helpers/api.ts";
import { startTestServer } from "./helpers/server.ts";
import { spawnWorker } from "./helpers/worker_process.ts";

type ProgressEvent = { bulkOperationProgress: OperationView };

Deno.test("a subscriber on the API process sees progress made by a separate `deno task worker` process", async () => {
  await using server = await startTestServer({ tickets: 600, env: { WORKERS: "0", BULK_CHUNK_SIZE: "100" } });
  await using client = wsClient(server.wsUrl, server.tenant.admin.token);
  expect(server.app.pool).toBeNull();
  const ids = await ticketIds(server.db, server.tenant.id);
  await using gate = await holdTicketLocks(server.databaseUrl, [ids[320]]); // the worker will pause at 300
  const op = await startOk(server, server.tenant.admin, {
    targets: { ids: ids.map(ticketGid) },
    action: { setStatus: { status: "PENDING" } },
  });
  const rec = record<ProgressEvent>(client, PROGRESS, { id: op.id });
  const snapshot = await rec.waitFor(() => true);
  // Nobody works in this process: the snapshot is the untouched operation.
  expect(snapshot.bulkOperationProgress.status).toBe("RUNNING");
  expect(snapshot.bulkOperationProgress.counts.processed).toBe(0);
  expect((await operation(server.db, op.dbId)).succeeded).toBe(0);

  await using worker = await spawnWorker({ DATABASE_URL: server.databaseUrl, WORKERS: "1", BULK_CHUNK_SIZE: "100" });
  const paused = await rec.waitFor((e) => e.bulkOperationProgress.counts.processed === 300, 60_000);
  expect(paused.bulkOperationProgress.status).toBe("RUNNING");
  await gate.release();
  await within(rec.done, 60_000, "the subscription completes");

  expect(rec.errors).toEqual([]);
  expect(rec.completed).toBe(true);
  const views = rec.events.map((e) => e.data.bulkOperationProgress);
  const last = views.at(-1)!;
  const row = await expectConsistent(server.db, op.dbId);
  expect(last.status).toBe(row.status);
  expect(last.counts).toEqual({ ...(await ledgerCounts(server.db, op.dbId)), processed: 600, pending: 0 });
  console.log(
    `worker process ${worker.pid}: ${views.length} events, processed ${
      views.map((v) => v.counts.processed).join(", ")
    }; final ${last.status} ${JSON.stringify(last.counts)}`,
  );
});
