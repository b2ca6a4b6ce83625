/** Helpers for engine tests: start operations as a user, wait for states, read the ledger. */
import { sql } from "kysely";
import type { Viewer } from "../../src/auth/tokens.ts";
import type { Db } from "../../src/db/database.ts";
import type { OperationRow } from "../../src/bulk/operation.ts";
import { claimJob } from "../../src/bulk/queue/claim.ts";
import { runChunk } from "../../src/bulk/run-chunk.ts";
import { type StartInput, startOperation } from "../../src/bulk/start.ts";
import { ticketsDomain } from "../../src/tickets/actions/domain.ts";
import type { BulkDomain } from "../../src/bulk/action.ts";
import type { TestServer, TestUser } from "./server.ts";
import { waitUntil } from "./wait.ts";

export async function loadViewer(db: Db, user: TestUser): Promise<Viewer> {
  const row = await db.selectFrom("users").selectAll().where("id", "=", user.id).executeTakeFirstOrThrow();
  return { userId: row.id, tenantId: row.tenant_id, role: row.role, email: row.email, name: row.name };
}

/** Starts an operation through the engine's service function with the server's limits. */
export async function start(
  server: TestServer,
  user: TestUser,
  input: StartInput,
  domain: BulkDomain = ticketsDomain,
): Promise<OperationRow> {
  const started = await startOperation(server.db, domain, await loadViewer(server.db, user), input, {
    maxTargets: server.config.maxTargets,
    chunkSize: server.config.chunkSize,
    maxActivePerUser: server.config.maxActivePerUser,
    maxStartsPerMinute: server.config.maxStartsPerMinute,
    maxWaitingPerUser: server.config.maxWaitingPerUser,
  });
  return started.operation;
}

export async function operation(db: Db, id: string): Promise<OperationRow> {
  return await db.selectFrom("bulk_operations").selectAll().where("id", "=", id)
    .executeTakeFirstOrThrow() as OperationRow;
}

/** Polls until `done(op)` holds; fails after `timeoutMs` with the last state. */
export async function waitFor(
  db: Db,
  id: string,
  done: (op: OperationRow) => boolean,
  timeoutMs = 30_000,
): Promise<OperationRow> {
  let last: OperationRow | undefined;
  return await waitUntil(async () => {
    last = await operation(db, id);
    return done(last) && last;
  }, { timeoutMs, what: `operation ${id} reaches the awaited state`, intervalMs: 25, describe: () => last });
}

export const finished = (op: OperationRow) =>
  ["COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"].includes(op.status);

/** Outcome counts and code counts straight from the ledger (PENDING items included: the bulk_operation_ledger view). */
export async function ledger(db: Db, id: string) {
  const { rows } = await sql<{ outcome: string; error_code: string | null; n: number }>`
    SELECT outcome, error_code, count(*)::int AS n FROM bulk_operation_ledger
    WHERE operation_id = ${id} GROUP BY 1, 2 ORDER BY 1, 2`.execute(db);
  const outcomes: Record<string, number> = {};
  const codes: Record<string, number> = {};
  for (const row of rows) {
    outcomes[row.outcome] = (outcomes[row.outcome] ?? 0) + row.n;
    if (row.error_code) codes[row.error_code] = (codes[row.error_code] ?? 0) + row.n;
  }
  return { outcomes, codes };
}

/** The tenant's ticket ids, oldest first. */
export async function ticketIds(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db.selectFrom("tickets").select("id").where("tenant_id", "=", tenantId).orderBy("id").execute();
  return rows.map((r) => String(r.id));
}

/**
 * Applies queued chunks the way a worker does (claimJob + runChunk), `limit` of them or all,
 * on a server with WORKERS=0: each step of an operation then happens at a known moment.
 */
export async function runChunks(server: TestServer, limit = Infinity): Promise<number> {
  let ran = 0;
  while (ran < limit) {
    const job = await claimJob(server.db, "test-driver", 30_000);
    if (!job) break;
    await runChunk(server.db, ticketsDomain, job);
    ran++;
  }
  return ran;
}

/** Until some backend of this database waits for a lock (e.g. a chunk blocked on a held row); fails after 10 s. */
export async function waitForLockWait(db: Db, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows: [row] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE wait_event_type = 'Lock' AND datname = current_database()`.execute(db);
    if (row.n > 0) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} to wait on a lock`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
