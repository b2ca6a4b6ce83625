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

/** The demo tenant's id, or null when it was never seeded. */
export async function demoTenantId(db: Db): Promise<string | null> {
  const row = await db.selectFrom("users").select("tenant_id").where("email", "=", DEMO_USERS[0].email)
    .executeTakeFirst();
  return row?.tenant_id ?? null;
}

/**
 * Inserts `count` varied tickets in one set-based statement (generate_series), assigned
 * round-robin to the tenant's agents and admins. A million rows take about 20 s here,
 * most of it maintaining the indexes (docs/performance.md).
 */
export async function insertTickets(db: Db, tenantId: string, count: number): Promise<void> {
  if (count <= 0) return;
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
      now() - make_interval(secs => ${count} - g),
      now() - make_interval(secs => ${count} - g)
    FROM generate_series(1, ${count}::int) AS g, assignees a
  `.execute(db);
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
