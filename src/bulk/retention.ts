/**
 * Retention: finished operations older than BULK_RETENTION_DAYS are deleted with their
 * items, events and jobs; expired previews too. Run from every pool's maintenance tick, at
 * most once per RETENTION_INTERVAL_MS per process, and bounded per run.
 *
 * Never a long lock: each statement deletes at most `batchSize` rows of one finished
 * operation, in its own transaction. An operation's ledger goes first, one position range
 * [p, p + batchSize) at a time through the primary key, then its events in id order, then
 * the row itself (whose ON DELETE CASCADE then finds nothing left to delete).
 *
 * What is kept, deliberately:
 * - Lineage: an operation is deleted only once none of its retries or rollbacks remains
 *   (children end after their parent, so they age out first; a parent waits for its
 *   youngest child). `purge_started_at` is set before the ledger is touched, under the row
 *   lock that retry and rollback take on their parent, and they then treat the parent as
 *   gone: no new child can read a half-deleted ledger.
 * - Comments an ADD_COMMENT operation added stay, with that operation's id (migration 0006
 *   dropped the foreign key whose SET NULL would have dropped them out of the one comment per
 *   target per operation key).
 * - BULK_RETENTION_DAYS is at least the rollback window (config.ts), so nothing that can
 *   still be rolled back is deleted.
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";

/** How often a process runs retention (the maintenance tick runs every BULK_POLL_MS). */
export const RETENTION_INTERVAL_MS = 60_000;

export interface RetentionOptions {
  retentionDays: number;
  /** The current time (injected so tests move it instead of waiting days). */
  now?: Date;
  /** Rows per statement. */
  batchSize?: number;
  /** Operations deleted per run at most (the next run continues). */
  maxOperations?: number;
}

export interface RetentionResult {
  operations: number;
  items: number;
  events: number;
  previews: number;
}

/**
 * Another process that started deleting an operation this long ago and did not finish has
 * died: take it over (every step is idempotent, so two purgers of one operation are harmless).
 */
const STALE_PURGE = "10 minutes";

const hasChild = (db: Db, operationId: string) =>
  db.selectFrom("bulk_operations").select("id").where("parent_id", "=", operationId).limit(1).executeTakeFirst();

/**
 * Marks the next expired operation for deletion and returns it. In one transaction:
 *   SELECT id, total FROM bulk_operations o WHERE finished_at < $cutoff AND (not being purged)
 *     AND NOT EXISTS (SELECT 1 FROM bulk_operations c WHERE c.parent_id = o.id)
 *   ORDER BY finished_at LIMIT 1 FOR UPDATE SKIP LOCKED
 * then, holding that row lock, the children are looked for again (a fresh snapshot: a retry
 * or rollback locks its parent before it inserts itself, so any child committed by now is
 * seen, and any later one will find the mark), then the mark is set. Served by
 * bulk_operations_finished_idx and the partial parent index.
 */
async function claimExpired(db: Db, cutoff: Date): Promise<{ id: string; total: number } | undefined> {
  return await db.transaction().execute(async (tx) => {
    const candidate = await tx.selectFrom("bulk_operations as o").select(["o.id", "o.total"])
      .where("o.finished_at", "<", cutoff)
      .where((w) =>
        w.or([
          w("o.purge_started_at", "is", null),
          w("o.purge_started_at", "<", sql<Date>`now() - ${STALE_PURGE}::interval`),
        ])
      )
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom("bulk_operations as c").select("c.id").whereRef("c.parent_id", "=", "o.id")))
      )
      .orderBy("o.finished_at").limit(1).forUpdate().skipLocked().executeTakeFirst();
    if (!candidate || await hasChild(tx, candidate.id)) return undefined; // a child appeared: next run
    await tx.updateTable("bulk_operations").set({ purge_started_at: sql`now()` }).where("id", "=", candidate.id)
      .execute();
    return candidate;
  });
}

async function deleteOperation(db: Db, op: { id: string; total: number }, batchSize: number) {
  let items = 0;
  for (let from = 0; from < op.total; from += batchSize) {
    const deleted = await db.deleteFrom("bulk_operation_items").where("operation_id", "=", op.id)
      .where("position", ">=", from).where("position", "<", from + batchSize).executeTakeFirst();
    items += Number(deleted.numDeletedRows);
  }
  const events = await inBatches(batchSize, () =>
    db.deleteFrom("bulk_operation_events")
      .where("id", "in", (eb) =>
        eb.selectFrom("bulk_operation_events").select("id").where("operation_id", "=", op.id).orderBy("id")
          .limit(batchSize))
      .executeTakeFirst());
  // Finished operations have no jobs; the cascade removes any all the same.
  await db.deleteFrom("bulk_operations").where("id", "=", op.id).execute();
  return { items, events };
}

/** Runs a DELETE of at most `batchSize` rows until one deletes fewer; returns how many it deleted. */
async function inBatches(batchSize: number, deleteBatch: () => Promise<{ numDeletedRows: bigint }>) {
  let total = 0;
  for (;;) {
    const deleted = Number((await deleteBatch()).numDeletedRows);
    total += deleted;
    if (deleted < batchSize) return total;
  }
}

/** Deletes expired previews, `batchSize` at a time (served by bulk_previews_expiry_idx). */
function deleteExpiredPreviews(db: Db, now: Date, batchSize: number): Promise<number> {
  return inBatches(batchSize, () =>
    db.deleteFrom("bulk_previews")
      .where("id", "in", (eb) =>
        eb.selectFrom("bulk_previews").select("id").where("expires_at", "<", now).orderBy("expires_at")
          .limit(batchSize))
      .executeTakeFirst());
}

/** One retention run: up to `maxOperations` expired operations, then expired previews. */
export async function purgeExpired(db: Db, options: RetentionOptions): Promise<RetentionResult> {
  const now = options.now ?? new Date();
  const batchSize = options.batchSize ?? 5000;
  const cutoff = new Date(now.getTime() - options.retentionDays * 86_400_000);
  const result: RetentionResult = { operations: 0, items: 0, events: 0, previews: 0 };
  for (let i = 0; i < (options.maxOperations ?? 100); i++) {
    const op = await claimExpired(db, cutoff);
    if (!op) break;
    const deleted = await deleteOperation(db, op, batchSize);
    result.operations++;
    result.items += deleted.items;
    result.events += deleted.events;
  }
  result.previews = await deleteExpiredPreviews(db, now, batchSize);
  return result;
}

/** Runs purgeExpired at most once per RETENTION_INTERVAL_MS (the pool calls it on every maintenance tick). */
export class RetentionSchedule {
  #lastRun = -Infinity;

  constructor(private readonly db: Db, private readonly retentionDays: number) {}

  async tick(): Promise<RetentionResult | null> {
    if (performance.now() - this.#lastRun < RETENTION_INTERVAL_MS) return null;
    this.#lastRun = performance.now();
    return await purgeExpired(this.db, { retentionDays: this.retentionDays });
  }
}
