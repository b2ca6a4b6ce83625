/**
 * A `deno task worker` process SIGKILLed inside an export chunk's transaction (after the
 * chunk rendered its part, while its INSERT into bulk_operation_parts stalls): a second
 * process rescues the chunk, and the downloaded file is still complete and exact: every
 * ticket once, in order, equal to the database, no part doubled or lost.
 */
import { parse as parseCsv } from "csv-parse/sync";
import { expect } from "expect";
import { sql } from "kysely";
import { gunzipSync } from "node:zlib";
import { finished, operation, waitFor } from "./helpers/bulk.ts";
import { counterValue, createCounter } from "./helpers/bulk_checks.ts";
import { chunkAttempts, leasesOf } from "./helpers/crash.ts";
import { downloadBytes, expectRecord, idsNewestFirst, startExport, ticketsInOrder, uuidOf } from "./helpers/exports.ts";
import { startTestServer } from "./helpers/server.ts";
import { waitUntil, within } from "./helpers/wait.ts";
import { crashWorkerEnv, spawnWorker } from "./helpers/worker_process.ts";

const CHUNK = 200;
const TICKETS = 3000;
const STALLED_CHUNK = 6;

for (const compression of ["GZIP", "NONE"] as const) {
  // GZIP: the part is rendered and compressed in the worker (apply); NONE: PostgreSQL renders and writes it
  // in the chunk's one statement (PartSql), with the job's deletion and the compact ledger.
  Deno.test(`SIGKILL of a worker process mid-export (${compression}): the rescued chunk's part is written once, the file is exact`, () =>
    killMidExport(compression));
}

async function killMidExport(compression: "GZIP" | "NONE") {
  await using server = await startTestServer({
    tickets: TICKETS,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: String(CHUNK), BULK_EXPORT_CHUNK_SIZE: String(CHUNK) },
  });
  const { db, tenant } = server;
  // The first INSERT of chunk STALLED_CHUNK's part sleeps, so the kill lands inside that chunk's transaction.
  await createCounter(db, "part_stalls");
  await sql`CREATE FUNCTION stall_part() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF nextval('part_stalls') = 1 THEN PERFORM pg_sleep(3); END IF; RETURN NEW; END $$`.execute(db);
  await sql`CREATE TRIGGER stall_part BEFORE INSERT ON bulk_operation_parts FOR EACH ROW
      WHEN (NEW.chunk_index = ${sql.lit(STALLED_CHUNK)}) EXECUTE FUNCTION stall_part()`.execute(db);

  const env = crashWorkerEnv(server.databaseUrl, CHUNK);
  await using first = await spawnWorker(env);
  const id = await startExport(server, tenant.agent.token, {
    targets: { filter: {} },
    format: "CSV",
    compression,
  });
  await waitUntil(async () => await counterValue(db, "part_stalls") > 0, {
    timeoutMs: 60_000,
    what: "the worker is inside the stalled export chunk",
  });
  first.signal("SIGKILL");
  expect((await within(first.exited, 30_000, "the SIGKILLed worker process exits")).success).toBe(false);
  const atKill = await operation(db, uuidOf(id));
  expect(finished(atKill)).toBe(false);
  expect(atKill.succeeded).toBe(STALLED_CHUNK * CHUNK);
  expect(await leasesOf(db, uuidOf(id), first.pid)).toEqual([
    { chunk_index: STALLED_CHUNK, locked_by: expect.any(String), attempts: 1 },
  ]);

  await using _rescuer = await spawnWorker(env);
  const done = await waitFor(db, uuidOf(id), finished, 120_000);
  expect(done).toMatchObject({ status: "COMPLETED", succeeded: TICKETS, failed: 0 });
  expect(await chunkAttempts(db, uuidOf(id), STALLED_CHUNK, CHUNK)).toEqual([2]);

  const bytes = await downloadBytes(server, tenant.agent.token, id);
  const text = new TextDecoder().decode(compression === "GZIP" ? gunzipSync(bytes) : bytes);
  const rows = parseCsv(text, { columns: true }) as Record<string, string>[];
  const tickets = await ticketsInOrder(db, await idsNewestFirst(db, tenant.id));
  expect(rows.length).toBe(TICKETS);
  rows.forEach((row, i) => expectRecord(row, tickets[i]));
}
