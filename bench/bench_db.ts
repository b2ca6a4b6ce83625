/**
 * What the engine benchmarks share: a migrated database (DATABASE_URL, else a throw-away
 * embedded one), an admin of a new tenant, and N tickets all OPEN (the SET_STATUS OPEN -> PENDING
 * they measure then changes every one).
 */
import type { Viewer } from "../src/auth/tokens.ts";
import type { Config } from "../src/config.ts";
import type { Db } from "../src/db/database.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { insertTickets } from "../src/tickets/seed.ts";
import { fmt } from "./bulk_table.ts";
import { resetTickets } from "./same_start.ts";

export async function openBenchDatabase(config: Config, name: string): Promise<{ url: string; stop(): Promise<void> }> {
  const embedded = config.databaseUrl ? null : await startEmbedded({
    dataDir: `.test-data/${name}-${Deno.pid}`,
    port: 54000 + (Deno.pid % 1000),
    ephemeral: true,
  });
  const url = config.databaseUrl ?? embedded!.databaseUrl(name);
  if (embedded) await embedded.createDatabase(name);
  await migrate(url);
  return { url, stop: async () => await embedded?.stop() };
}

/** A new tenant and its ADMIN, as the viewer startOperation takes. */
export async function benchAdmin(db: Db): Promise<Viewer> {
  const tenant = await db.insertInto("tenants").values({ name: `bench ${Date.now()}` }).returning("id")
    .executeTakeFirstOrThrow();
  const user = await db.insertInto("users").values({
    tenant_id: tenant.id,
    email: `bench-${crypto.randomUUID()}@bench.test`,
    name: "Bench",
    role: "ADMIN",
  }).returning(["id", "email", "name"]).executeTakeFirstOrThrow();
  return { userId: user.id, tenantId: tenant.id, role: "ADMIN", email: user.email, name: user.name };
}

/** Seeds `n` tickets for the tenant; prints how long it took. */
export async function seedTickets(db: Db, tenantId: string, n: number): Promise<void> {
  const t = performance.now();
  await insertTickets(db, tenantId, n);
  await resetTickets(db, tenantId);
  console.log(`seeded ${fmt(n)} tickets in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
