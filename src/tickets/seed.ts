/** Demo data: one tenant with an admin, an agent and a viewer, and set-based ticket seeding. */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import { mintToken } from "../auth/tokens.ts";

export const DEMO_TENANT_NAME = "Demo Help Desk";
export const DEMO_USERS = [
  { email: "admin@demo.test", name: "Ada Admin", role: "ADMIN" },
  { email: "agent@demo.test", name: "Alex Agent", role: "AGENT" },
  { email: "viewer@demo.test", name: "Vic Viewer", role: "VIEWER" },
] as const;
const DEV_TOKEN_LABEL = "dev-start";

/** Creates the demo tenant and users with `ticketCount` tickets unless it exists; returns its id. */
export async function seedDemo(db: Db, ticketCount = 1000): Promise<{ tenantId: string; created: boolean }> {
  return await db.transaction().execute(async (tx) => {
    // Serialises concurrent first starts (API and worker processes) on the seed.
    await sql`SELECT pg_advisory_xact_lock(720431002)`.execute(tx);
    const existing = await tx.selectFrom("users").select("tenant_id").where("email", "=", DEMO_USERS[0].email)
      .executeTakeFirst();
    if (existing) return { tenantId: existing.tenant_id, created: false };
    const tenant = await tx.insertInto("tenants").values({ name: DEMO_TENANT_NAME }).returning("id")
      .executeTakeFirstOrThrow();
    await tx.insertInto("users").values(DEMO_USERS.map((u) => ({ ...u, tenant_id: tenant.id }))).execute();
    await insertTickets(tx, tenant.id, ticketCount);
    return { tenantId: tenant.id, created: true };
  });
}

export interface InsertTicketsOptions {
  /** Number of the first generated ticket (titles "... #n"), default 1. */
  from?: number;
  /** created_at of ticket n is `now() - (span - n) seconds`; default from + count - 1, so the last is now. */
  span?: number;
}

/**
 * Inserts `count` varied tickets in one set-based statement (generate_series), assigned
 * round-robin to the tenant's agents and admins (a quarter unassigned):
 * `INSERT INTO tickets (...) SELECT ... FROM generate_series($from, $to) AS g, assignees`.
 * Most of the time goes to maintaining the indexes (the trigram GIN index on title alone
 * about a third) and to the per-row foreign-key checks; see seedTickets for large counts.
 */
export async function insertTickets(
  db: Db,
  tenantId: string,
  count: number,
  options: InsertTicketsOptions = {},
): Promise<void> {
  if (count <= 0) return;
  const from = options.from ?? 1;
  const to = from + count - 1;
  const span = options.span ?? to;
  await sql`
    WITH assignees AS (
      SELECT array_agg(id ORDER BY email) AS ids FROM users
      WHERE tenant_id = ${tenantId} AND role IN ('ADMIN', 'AGENT')
    )
    INSERT INTO tickets (tenant_id, title, body, status, priority, category, assignee_id, created_at, updated_at)
    SELECT ${tenantId},
      (ARRAY['Printer offline', 'Cannot log in', 'Refund request', 'Invoice is wrong', 'App crashes on start',
             'Password reset', 'Feature idea: dark mode', 'Slow dashboard', 'Export fails', 'Billing address change'])
        [1 + g % 10] || ' #' || g,
      'Seeded ticket ' || g,
      (ARRAY['OPEN', 'OPEN', 'PENDING', 'RESOLVED', 'CLOSED'])[1 + g % 5],
      (ARRAY['LOW', 'NORMAL', 'NORMAL', 'HIGH', 'URGENT'])[1 + (g / 5) % 5],
      (ARRAY['GENERAL', 'BILLING', 'TECHNICAL', 'ACCOUNT', 'FEATURE_REQUEST'])[1 + (g / 25) % 5],
      CASE WHEN g % 4 = 0 THEN NULL ELSE a.ids[1 + g % greatest(cardinality(a.ids), 1)] END,
      now() - make_interval(secs => ${span}::int - g),
      now() - make_interval(secs => ${span}::int - g)
    FROM generate_series(${from}::int, ${to}::int) AS g, assignees a
  `.execute(db);
}

export interface SeedTicketsOptions {
  /** Tickets per statement (and transaction), default 250,000. */
  sliceSize?: number;
  /** Slices inserted at once, each on its own connection, default 2 (the pool must have as many). */
  concurrency?: number;
  /** Called after each committed slice with the running total. */
  onProgress?: (inserted: number) => void;
  /** When aborted, no further slice starts (those running commit); then its reason is thrown. */
  signal?: AbortSignal;
}

/**
 * Inserts `count` tickets as slices of insertTickets run on `concurrency` connections.
 * Measured on the 2-core machine (embedded PostgreSQL 18, docs/architecture.md): one
 * 1,000,000-row statement 31-35 s; 250k slices on 2 connections 24-34 s. Slices also keep each
 * transaction (and what a failure throws away) bounded. Ticket numbers continue across slices.
 */
export async function seedTickets(
  db: Db,
  tenantId: string,
  count: number,
  options: SeedTicketsOptions = {},
): Promise<void> {
  const sliceSize = Math.max(1, options.sliceSize ?? 250_000);
  const slices: { from: number; count: number }[] = [];
  for (let from = 1; from <= count; from += sliceSize) {
    slices.push({ from, count: Math.min(sliceSize, count - from + 1) });
  }
  let inserted = 0;
  const worker = async () => {
    for (let slice = slices.shift(); slice && !options.signal?.aborted; slice = slices.shift()) {
      await insertTickets(db, tenantId, slice.count, { from: slice.from, span: count }).catch((error) => {
        slices.length = 0; // the other connections stop after their current slice
        throw error;
      });
      inserted += slice.count;
      options.onProgress?.(inserted);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 2) }, worker));
  options.signal?.throwIfAborted();
}

/**
 * Mints a fresh token for each demo user and revokes the ones minted at earlier starts,
 * so `deno task start` can print working tokens while only hashes are ever stored.
 */
export async function mintDevTokens(db: Db): Promise<{ email: string; role: string; token: string }[]> {
  const users = await db.selectFrom("users").select(["id", "email", "role"])
    .where("email", "in", DEMO_USERS.map((u) => u.email)).orderBy("email").execute();
  await db.updateTable("api_tokens").set({ revoked_at: new Date() })
    .where("label", "=", DEV_TOKEN_LABEL).where("revoked_at", "is", null)
    .where("user_id", "in", users.map((u) => u.id)).execute();
  const tokens = [];
  for (const user of users) {
    tokens.push({ email: user.email, role: user.role, token: await mintToken(db, user.id, DEV_TOKEN_LABEL) });
  }
  return tokens;
}
