/**
 * EXPORT_RETENTION_DAYS: the parts of exports that finished longer ago are deleted; the
 * operation, its ledger and the removal's reason stay (a download then says EXPIRED). Every
 * API process sweeps every EXPORT_SWEEP_INTERVAL_MS; concurrent sweepers skip each other's
 * rows (SKIP LOCKED) and a removal is written once (its primary key).
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import { log } from "../log.ts";
import { DAY_MS, EXPORT_ACTION_TYPE, removeParts } from "./state.ts";

/** How often each API process sweeps: an export's file outlives expiresAt by at most this. */
export const EXPORT_SWEEP_INTERVAL_MS = 10 * 60_000;

/** Exports removed per transaction by the sweep: each is a few hundred parts at most (one per chunk). */
const SWEEP_BATCH = 20;

/**
 * Removes the parts of every export that finished more than `retentionDays` before `now`
 * (injected, so tests set the clock), SWEEP_BATCH exports per transaction, oldest first, through
 * bulk_operations_export_finished_idx. Returns how many exports it removed.
 */
export async function expireExports(db: Db, options: { now: Date; retentionDays: number }): Promise<number> {
  const cutoff = new Date(options.now.getTime() - options.retentionDays * DAY_MS);
  let removed = 0;
  for (;;) {
    const batch = await db.transaction().execute(async (tx) => {
      const { rows } = await sql<{ id: string }>`
        SELECT o.id FROM bulk_operations o
        WHERE o.action_type = ${EXPORT_ACTION_TYPE} AND o.finished_at IS NOT NULL AND o.finished_at < ${cutoff}
          AND NOT EXISTS (SELECT 1 FROM bulk_export_removals r WHERE r.operation_id = o.id)
        ORDER BY o.finished_at LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED`.execute(tx);
      for (const { id } of rows) await removeParts(tx, id, "EXPIRED", null, options.now);
      return rows.length;
    });
    removed += batch;
    if (batch < SWEEP_BATCH) return removed;
  }
}

/** The periodic sweep of one process; stop() waits for a sweep in progress. */
export class ExportSweep {
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: Db, private readonly retentionDays: number) {}

  start(): void {
    this.#timer = setInterval(() => {
      this.#running = expireExports(this.db, { now: new Date(), retentionDays: this.retentionDays })
        .catch((error) =>
          log.warn("exports", `retention sweep failed: ${error instanceof Error ? error.message : error}`)
        );
    }, EXPORT_SWEEP_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
