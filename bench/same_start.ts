/**
 * The state every scenario of bench/bulk_bench.ts starts from, so that none inherits another's work.
 *
 * Reset rather than one tenant per scenario: separate identical tenants would need N x 4 seeded rows
 * (the 1M run would seed 4M tickets, minutes on this machine), and every scenario would then update a
 * table and indexes four times larger than the one it is about. Instead, before each scenario (and once
 * right after seeding, so the first scenario is not special):
 *   1. ONE `UPDATE` sets every ticket of the tenant back to OPEN. Every row is rewritten (not only the
 *      changed ones), so each scenario finds the same physical layout: every row once rewritten, its
 *      old version dead;
 *   2. `VACUUM ANALYZE` of the whole database reclaims those dead versions (and the ones the previous
 *      scenario left in its own tables: graphile-worker's jobs, the ledgers) and refreshes statistics,
 *      so no scenario scans dead tuples or plans on stale estimates left by another;
 *   3. `CHECKPOINT` writes the pages the reset and the previous scenario dirtied, so no scenario pays
 *      for writing back another's pages during its timing. It needs superuser or pg_checkpoint (the
 *      embedded server's user has it); with a DATABASE_URL whose role lacks it, it is skipped with a
 *      warning on stderr.
 */
import { sql } from "kysely";
import pg from "pg";
import type { Db } from "../src/db/database.ts";

const INSUFFICIENT_PRIVILEGE = "42501";

export async function resetTickets(db: Db, tenantId: string): Promise<void> {
  await sql`UPDATE tickets SET status = 'OPEN' WHERE tenant_id = ${tenantId}`.execute(db);
  await sql`VACUUM ANALYZE`.execute(db);
  try {
    await sql`CHECKPOINT`.execute(db);
  } catch (error) {
    if (!(error instanceof pg.DatabaseError && error.code === INSUFFICIENT_PRIVILEGE)) throw error;
    console.error("warning: CHECKPOINT not permitted for this role; scenarios may pay for earlier writes");
  }
}
