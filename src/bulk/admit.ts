/**
 * Admission: at most BULK_MAX_ACTIVE_PER_USER operations of one user run at once; the
 * others wait QUEUED (not refused) and are admitted, oldest first, when a slot frees.
 * Scheduled operations are admitted when their time comes. Admission of a user always
 * locks that user's row first, so concurrent starts/finishes never over-admit.
 * Admitting = status RUNNING + its jobs' run_at from 'infinity' to now().
 *
 * The user row is locked FOR NO KEY UPDATE, not FOR UPDATE: foreign-key checks take FOR KEY
 * SHARE on the referenced row, which FOR UPDATE blocks. With FOR UPDATE a cancel (operation
 * row locked, then an event whose actor references the user) and an admission (user row
 * locked, then an UPDATE of that operation) deadlocked, and ADD_COMMENT/ASSIGN chunks
 * (comments and assignees reference users) waited for a user's whole 100k-item start.
 * FOR NO KEY UPDATE still conflicts with itself, so admissions of one user stay serialised.
 * The engine's lock order is written down in docs/architecture.md.
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import type { Tx } from "./action.ts";
import { notifyJobs, notifyProgress } from "./notify.ts";
import { ACTIVE_STATUSES, type OperationStatus, recordEvent } from "./operation.ts";

async function lockUserAndCountActive(tx: Tx, userId: string): Promise<number> {
  await tx.selectFrom("users").select("id").where("id", "=", userId).forNoKeyUpdate().execute();
  const row = await tx.selectFrom("bulk_operations").select((eb) => eb.fn.countAll<number>().as("n"))
    .where("created_by", "=", userId).where("status", "in", ACTIVE_STATUSES).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The status a new operation starts in (locks the creator's row for the transaction). */
export async function admissionStatus(
  tx: Tx,
  userId: string,
  scheduledAt: Date | null,
  maxActive: number,
): Promise<OperationStatus> {
  const active = await lockUserAndCountActive(tx, userId);
  if (scheduledAt && scheduledAt.getTime() > Date.now()) return "SCHEDULED";
  const waiting = await tx.selectFrom("bulk_operations").select("id").where("created_by", "=", userId)
    .where("status", "=", "QUEUED").limit(1).executeTakeFirst();
  // Behind an already queued operation of the same user, even if a slot is free right now.
  return active < maxActive && !waiting ? "RUNNING" : "QUEUED";
}

/** Admits what one user may run now; returns the admitted operation ids. */
export async function admitUser(db: Db, userId: string, maxActive: number): Promise<string[]> {
  return await db.transaction().execute(async (tx) => {
    const free = maxActive - await lockUserAndCountActive(tx, userId);
    // Scheduled operations whose time came join the queue in creation order.
    await tx.updateTable("bulk_operations").set({ status: "QUEUED" }).where("created_by", "=", userId)
      .where("status", "=", "SCHEDULED").where("scheduled_at", "<=", sql<Date>`now()`).execute();
    if (free <= 0) return [];
    const admitted = await tx.updateTable("bulk_operations")
      .set({ status: "RUNNING", started_at: sql`now()` })
      .where("id", "in", (eb) =>
        eb.selectFrom("bulk_operations").select("id").where("created_by", "=", userId)
          .where("status", "=", "QUEUED").orderBy("created_at").orderBy("id").limit(free))
      // Re-checked after the row lock: a cancel that committed meanwhile must not be revived.
      .where("status", "=", "QUEUED")
      .returning(["id", "tenant_id"]).execute();
    if (admitted.length === 0) return [];
    await tx.updateTable("bulk_jobs").set({ run_at: sql`now()` })
      .where("operation_id", "in", admitted.map((o) => o.id)).execute();
    for (const operation of admitted) {
      await recordEvent(tx, operation.id, "STARTED");
      await notifyProgress(tx, operation.tenant_id, operation.id);
    }
    await notifyJobs(tx);
    return admitted.map((o) => o.id);
  });
}

/**
 * Admits waiting operations of every user who has some that could run (run by each
 * pool's maintenance tick; cheap thanks to the partial index bulk_operations_waiting_idx).
 */
export async function admitWaiting(db: Db, maxActive: number): Promise<string[]> {
  // Users whose oldest waiting operation waits longest first, so none is starved by the limit.
  const users = await db.selectFrom("bulk_operations").select("created_by")
    .where((eb) =>
      eb.or([
        eb("status", "=", "QUEUED"),
        eb.and([eb("status", "=", "SCHEDULED"), eb("scheduled_at", "<=", sql<Date>`now()`)]),
      ])
    ).groupBy("created_by").orderBy(sql`min(created_at)`).limit(100).execute();
  const admitted: string[] = [];
  for (const { created_by } of users) admitted.push(...await admitUser(db, created_by, maxActive));
  return admitted;
}
