/**
 * The peers of bench/bulk_bench.ts (issue 18) make the bench's change and nothing else: the
 * graphile-worker jobs move exactly the tenant's OPEN tickets to PENDING with version + 1, one job per
 * chunk, and the ledger peer writes one ledger row per ticket with its true before/after image. Also:
 * the state reset between scenarios, and the figures' names and ratios (--json, --scenarios).
 */
import { expect } from "expect";
import { sql } from "kysely";
import { createDb, createPool } from "../src/db/database.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import { figuresJson, parseScenarios } from "../bench/bulk_table.ts";
import { createPeerLedger, PEER_LEDGER_TABLE, runGraphileWorkerPeer } from "../bench/peers/graphile_worker.ts";
import { resetTickets } from "../bench/same_start.ts";
import { freshDatabase } from "./helpers/database.ts";
import { createTenant } from "./helpers/server.ts";

const TICKETS = 4_500; // chunks of 2,000: two full jobs and a partial one

Deno.test("bench peers: graphile-worker jobs make the bench's change, the ledger peer records it", async (t) => {
  const url = await freshDatabase();
  await using db = createDb(url, { poolSize: 2 });
  await using owned = new AsyncDisposableStack(); // pg.Pool is not AsyncDisposable: ended before db
  const pool = createPool(url, { poolSize: 5, applicationName: "bench-peer-test" });
  owned.defer(() => pool.end());
  const tenant = await createTenant(db, "Bench tenant");
  const other = await createTenant(db, "Other tenant");
  await insertTickets(db, tenant.id, TICKETS);
  await insertTickets(db, other.id, 100);
  await createPeerLedger(pool);
  const states = async (tenantId: string) => {
    const { rows } = await sql<{ status: string; version: number; n: number }>`
      SELECT status, version, count(*)::int AS n FROM tickets WHERE tenant_id = ${tenantId}
      GROUP BY status, version ORDER BY status, version`.execute(db);
    return rows;
  };
  const otherBefore = await states(other.id);
  /** Runs a peer over the tenant's tickets: 3 jobs, every ticket changed once, the other tenant untouched. */
  const runPeer = async (ledger: boolean, versionAfter: number) => {
    const peer = await runGraphileWorkerPeer(pool, { tenantId: tenant.id, ledger, concurrency: 2, chunkSize: 2000 });
    expect({ items: peer.items, jobs: peer.jobs, timed: peer.seconds > 0 }).toEqual({
      items: TICKETS,
      jobs: 3,
      timed: true,
    });
    expect(await states(tenant.id)).toEqual([{ status: "PENDING", version: versionAfter, n: TICKETS }]);
    expect(await states(other.id)).toEqual(otherBefore);
  };

  await t.step("resetTickets: every ticket of the tenant OPEN again, others untouched", async () => {
    await resetTickets(db, tenant.id);
    expect(await states(tenant.id)).toEqual([{ status: "OPEN", version: 1, n: TICKETS }]);
    expect(await states(other.id)).toEqual(otherBefore);
  });

  await t.step("(b) no ledger: one job per 2,000 tickets, every OPEN ticket PENDING, version + 1", async () => {
    await runPeer(false, 2);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(PEER_LEDGER_TABLE)}`
      .execute(db);
    expect(rows[0].n).toBe(0);
  });

  await t.step("(c) ledger: the same change and one ledger row per ticket with its before/after", async () => {
    await resetTickets(db, tenant.id);
    const { rows: expected } = await sql<
      { id: string; priority: string; category: string; assignee_id: string | null }
    >`
      SELECT id, priority, category, assignee_id FROM tickets WHERE tenant_id = ${tenant.id} ORDER BY id`.execute(db);
    await runPeer(true, 3);
    const { rows: ledger } = await sql<{ ticket_id: string; before: unknown; after: unknown }>`
      SELECT ticket_id, before, after FROM ${sql.table(PEER_LEDGER_TABLE)} ORDER BY ticket_id`.execute(db);
    expect(ledger.length).toBe(TICKETS);
    const image = (ticket: (typeof expected)[number], status: string, version: number) => ({
      status,
      priority: ticket.priority,
      category: ticket.category,
      assigneeId: ticket.assignee_id,
      deletedAt: null,
      version,
    });
    expect(ledger).toEqual(expected.map((ticket) => ({
      ticket_id: ticket.id,
      before: image(ticket, "OPEN", 2),
      after: image(ticket, "PENDING", 3),
    })));
  });
});

Deno.test("bench figures: --scenarios parsing, stable JSON names, ratios to the raw UPDATE and to the ledger peer", () => {
  expect(parseScenarios("d, A")).toEqual(new Set(["d", "a"]));
  expect(parseScenarios("a,x")).toContain('--scenarios takes a comma-separated subset of a,b,c,d, got "a,x"');
  const json = figuresJson({
    tickets: 10_000,
    workers: 2,
    chunkSize: 2000,
    seedSeconds: 1.5,
    raw: { items: 10_000, seconds: 0.5 },
    gwLedger: { items: 10_000, seconds: 1 },
    engine: {
      items: 10_000,
      seconds: 0.8,
      startMs: 120.4,
      peakRssMb: 171.6,
      status: "COMPLETED",
      finishingChunkMs: 151.2,
      medianChunkMs: 140.6,
      chunks: 5,
      cancel: {
        total: 10_000,
        appliedBefore: 4000,
        requestMs: 21.4,
        requestStatus: "CANCELLING",
        untilCancelledS: 0.6524,
        cancelledItems: 4000,
        status: "CANCELLED",
      },
    },
  });
  expect(json).toEqual({
    tickets: 10_000,
    workers: 2,
    chunk_size: 2000,
    seed_s: 1.5,
    raw_update_s: 0.5,
    raw_update_items_per_s: 20_000,
    gw_no_ledger_s: null,
    gw_no_ledger_items_per_s: null,
    gw_no_ledger_vs_raw: null,
    gw_ledger_s: 1,
    gw_ledger_items_per_s: 10_000,
    gw_ledger_vs_raw: 0.5,
    engine_s: 0.8,
    engine_items_per_s: 12_500,
    engine_vs_raw: 0.625,
    engine_vs_gw_ledger: 1.25,
    start_ms: 120,
    peak_rss_mb: 172,
    engine_status: "COMPLETED",
    finishing_chunk_ms: 151,
    median_chunk_ms: 141,
    cancel_total_items: 10_000,
    cancel_request_ms: 21,
    cancel_until_cancelled_s: 0.652,
    cancel_cancelled_items: 4000,
    small_during_big_ms: null,
    worker_process_s: null,
    worker_process_items_per_s: null,
    worker_process_peak_rss_mb: null,
    cores: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
  });
});
